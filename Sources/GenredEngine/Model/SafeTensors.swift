import Foundation

/// A safetensors file: an 8-byte little-endian header length, a JSON header, then raw tensor data.
///
/// Only float32 tensors are read and written; that is all a genred bundle or taxonomy holds.
public struct SafeTensors: Sendable {
    public struct Tensor: Sendable, Equatable {
        public let shape: [Int]
        public let values: [Float]

        public init(shape: [Int], values: [Float]) {
            precondition(shape.reduce(1, *) == values.count, "tensor shape \(shape) does not hold \(values.count) values")
            self.shape = shape
            self.values = values
        }
    }

    public let tensors: [String: Tensor]
    public let metadata: [String: String]

    public enum ParseError: Error, Sendable, CustomStringConvertible {
        case tooShort
        case badHeader(String)
        case unsupportedType(tensor: String, dtype: String)
        case badOffsets(tensor: String)

        public var description: String {
            switch self {
            case .tooShort: "file too short for a safetensors header"
            case .badHeader(let why): "bad safetensors header: \(why)"
            case .unsupportedType(let name, let dtype): "tensor \(name) has type \(dtype), expected F32"
            case .badOffsets(let name): "tensor \(name) has offsets outside the file or not matching its shape"
            }
        }
    }

    public init(data: Data) throws(ParseError) {
        guard data.count >= 8 else { throw .tooShort }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(data.count - 8) else { throw .badHeader("header length \(headerLength) exceeds file size") }
        let headerEnd = 8 + Int(headerLength)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<headerEnd))
        } catch {
            throw .badHeader("not JSON")
        }
        guard let header = json as? [String: Any] else { throw .badHeader("not a JSON object") }
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = [:]
        let payload = data.count - headerEnd
        for (name, entry) in header {
            if name == "__metadata__" {
                metadata = entry as? [String: String] ?? [:]
                continue
            }
            guard let fields = entry as? [String: Any],
                  let dtype = fields["dtype"] as? String,
                  let shape = fields["shape"] as? [Int],
                  let offsets = fields["data_offsets"] as? [Int], offsets.count == 2
            else { throw .badHeader("entry \(name) lacks dtype, shape or data_offsets") }
            guard dtype == "F32" else { throw .unsupportedType(tensor: name, dtype: dtype) }
            let count = shape.reduce(1, *)
            guard offsets[0] >= 0, offsets[1] <= payload, offsets[1] - offsets[0] == count * 4 else {
                throw .badOffsets(tensor: name)
            }
            let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                data.withUnsafeBytes { raw in
                    let source = raw.baseAddress! + headerEnd + offsets[0]
                    for i in 0..<count {
                        let bits = source.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
                        buffer[i] = Float(bitPattern: UInt32(littleEndian: bits))
                    }
                }
                initialized = count
            }
            tensors[name] = Tensor(shape: shape, values: values)
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    public init(tensors: [String: Tensor], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The file's bytes: tensors in name order, data packed one after another, and the JSON
    /// header padded with spaces to a multiple of 8 bytes (as the format recommends, so the data
    /// of a memory-mapped file is aligned). The same tensors always give the same bytes.
    public func encoded() -> Data {
        let names = tensors.keys.sorted()
        var entries: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { JSONText.quote($0) + ":" + JSONText.quote(metadata[$0]!) }
            entries.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
        }
        var offset = 0
        for name in names {
            let t = tensors[name]!
            let end = offset + t.values.count * 4
            entries.append(JSONText.quote(name) + ":{\"dtype\":\"F32\",\"shape\":["
                + t.shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        var data = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: header)
        for name in names {
            for v in tensors[name]!.values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        }
        return data
    }
}
