import Foundation
import GenredEngine

/// Column names are the record's property names in snake case (`mtimeNs` is `mtime_ns`).
enum ColumnName {
    static func of(_ key: String) -> String {
        var out = ""
        for c in key {
            if c.isUppercase {
                out.append("_")
                out.append(contentsOf: c.lowercased())
            } else {
                out.append(c)
            }
        }
        return out
    }
}

/// A record persisted in one table.
protocol StoredRecord: Codable, Sendable {
    static var tableName: String { get }
}

/// Decodes a `Decodable` record from a row: each property from the column of its snake-case name.
enum SQLRowDecoder {
    static func decode<T: Decodable>(_ type: T.Type, from row: SQLRow) throws -> T {
        try T(from: RowDecoder(row: row))
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    struct RowDecoder: Decoder {
        let row: SQLRow
        var codingPath: [any CodingKey] = []
        var userInfo: [CodingUserInfoKey: Any] = [:]

        func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
            KeyedDecodingContainer(Keyed<Key>(row: row))
        }
        func unkeyedContainer() throws -> any UnkeyedDecodingContainer { throw Failure(description: "rows are keyed") }
        func singleValueContainer() throws -> any SingleValueDecodingContainer { throw Failure(description: "rows are keyed") }
    }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let row: SQLRow
        var codingPath: [any CodingKey] = []
        var allKeys: [Key] { row.columns.compactMap { Key(stringValue: $0) } }

        func value(_ key: Key) -> SQLValue { row[ColumnName.of(key.stringValue)] }
        func missing(_ key: Key, _ type: String) -> Failure {
            Failure(description: "column \(ColumnName.of(key.stringValue)): expected \(type), found \(value(key))")
        }

        func contains(_ key: Key) -> Bool { row.columns.contains(ColumnName.of(key.stringValue)) }
        func decodeNil(forKey key: Key) throws -> Bool { value(key) == .null }

        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
            guard let v = row.bool(ColumnName.of(key.stringValue)) else { throw missing(key, "a boolean") }
            return v
        }
        func decode(_ type: String.Type, forKey key: Key) throws -> String {
            guard let v = row.string(ColumnName.of(key.stringValue)) else { throw missing(key, "text") }
            return v
        }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
            guard let v = row.double(ColumnName.of(key.stringValue)) else { throw missing(key, "a number") }
            return v
        }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { Float(try decode(Double.self, forKey: key)) }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { Int(try integer(key)) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try integer(key) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { Int8(try integer(key)) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { Int16(try integer(key)) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { Int32(try integer(key)) }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { UInt(try integer(key)) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { UInt8(try integer(key)) }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { UInt16(try integer(key)) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { UInt32(try integer(key)) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { UInt64(try integer(key)) }

        func integer(_ key: Key) throws -> Int64 {
            guard let v = row.int64(ColumnName.of(key.stringValue)) else { throw missing(key, "an integer") }
            return v
        }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            let name = ColumnName.of(key.stringValue)
            if type == Date.self {
                guard let d = row.date(name) else { throw missing(key, "a date") }
                return d as! T
            }
            if type == Data.self {
                guard let d = row.data(name) else { throw missing(key, "bytes") }
                return d as! T
            }
            // Enums with raw values (and other single values) decode from the column's text.
            return try T(from: Single(value: value(key), codingPath: codingPath + [key]))
        }

        func nestedContainer<N: CodingKey>(keyedBy type: N.Type, forKey key: Key) throws -> KeyedDecodingContainer<N> {
            throw Failure(description: "nested values are not stored")
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            throw Failure(description: "nested values are not stored")
        }
        func superDecoder() throws -> any Decoder { throw Failure(description: "no super decoder") }
        func superDecoder(forKey key: Key) throws -> any Decoder { throw Failure(description: "no super decoder") }
    }

    /// One column's value, for raw-value enums.
    struct Single: Decoder, SingleValueDecodingContainer {
        let value: SQLValue
        var codingPath: [any CodingKey]
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<K: CodingKey>(keyedBy type: K.Type) throws -> KeyedDecodingContainer<K> { throw Failure(description: "not keyed") }
        func unkeyedContainer() throws -> any UnkeyedDecodingContainer { throw Failure(description: "not a list") }
        func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

        var one: SQLRow { SQLRow(columns: ["v"], values: [value]) }
        func fail(_ what: String) -> Failure { Failure(description: "expected \(what), found \(value)") }
        func decodeNil() -> Bool { value == .null }
        func decode(_ type: Bool.Type) throws -> Bool { guard let v = one.bool("v") else { throw fail("a boolean") }; return v }
        func decode(_ type: String.Type) throws -> String { guard let v = one.string("v") else { throw fail("text") }; return v }
        func decode(_ type: Double.Type) throws -> Double { guard let v = one.double("v") else { throw fail("a number") }; return v }
        func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }
        func decode(_ type: Int.Type) throws -> Int { guard let v = one.int("v") else { throw fail("an integer") }; return v }
        func decode(_ type: Int64.Type) throws -> Int64 { guard let v = one.int64("v") else { throw fail("an integer") }; return v }
        func decode(_ type: Int8.Type) throws -> Int8 { Int8(try decode(Int64.self)) }
        func decode(_ type: Int16.Type) throws -> Int16 { Int16(try decode(Int64.self)) }
        func decode(_ type: Int32.Type) throws -> Int32 { Int32(try decode(Int64.self)) }
        func decode(_ type: UInt.Type) throws -> UInt { UInt(try decode(Int64.self)) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { UInt8(try decode(Int64.self)) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { UInt16(try decode(Int64.self)) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { UInt32(try decode(Int64.self)) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { UInt64(try decode(Int64.self)) }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: self) }
    }
}

/// Encodes a record into its columns and values, in property order.
enum SQLRowEncoder {
    static func encode<T: Encodable>(_ value: T) throws -> [(column: String, value: SQLValue)] {
        let box = Box()
        try value.encode(to: RowEncoder(box: box))
        return box.columns
    }

    final class Box {
        var columns: [(column: String, value: SQLValue)] = []
        func set(_ key: String, _ value: SQLValue) {
            let name = ColumnName.of(key)
            if let i = columns.firstIndex(where: { $0.column == name }) { columns[i].value = value } else { columns.append((name, value)) }
        }
    }

    struct RowEncoder: Encoder {
        let box: Box
        var codingPath: [any CodingKey] = []
        var userInfo: [CodingUserInfoKey: Any] = [:]
        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            KeyedEncodingContainer(Keyed<Key>(box: box))
        }
        func unkeyedContainer() -> any UnkeyedEncodingContainer { fatalError("rows are keyed") }
        func singleValueContainer() -> any SingleValueEncodingContainer { fatalError("rows are keyed") }
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let box: Box
        var codingPath: [any CodingKey] = []
        func encodeNil(forKey key: Key) throws { box.set(key.stringValue, .null) }
        func encode(_ value: Bool, forKey key: Key) throws { box.set(key.stringValue, .bool(value)) }
        func encode(_ value: String, forKey key: Key) throws { box.set(key.stringValue, .text(value)) }
        func encode(_ value: Double, forKey key: Key) throws { box.set(key.stringValue, .real(value)) }
        func encode(_ value: Float, forKey key: Key) throws { box.set(key.stringValue, .real(Double(value))) }
        func encode(_ value: Int, forKey key: Key) throws { box.set(key.stringValue, .integer(Int64(value))) }
        func encode(_ value: Int64, forKey key: Key) throws { box.set(key.stringValue, .integer(value)) }
        func encode(_ value: Int32, forKey key: Key) throws { box.set(key.stringValue, .integer(Int64(value))) }
        func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            switch value {
            case let d as Date: box.set(key.stringValue, .date(d))
            case let d as Data: box.set(key.stringValue, .blob(d))
            case let r as any RawRepresentable<String>: box.set(key.stringValue, .text(r.rawValue))
            case let i as Int: box.set(key.stringValue, .integer(Int64(i)))
            case let i as Int64: box.set(key.stringValue, .integer(i))
            default: throw SQLRowDecoder.Failure(description: "column \(ColumnName.of(key.stringValue)): \(T.self) is not stored")
            }
        }
        // Optionals: a nil is stored as NULL, not left out.
        func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        func encodeIfPresent(_ value: String?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        func encodeIfPresent(_ value: Int64?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        func encodeIfPresent(_ value: Int?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        func encodeIfPresent(_ value: Double?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        func encodeIfPresent(_ value: Bool?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }
        func nestedContainer<N: CodingKey>(keyedBy keyType: N.Type, forKey key: Key) -> KeyedEncodingContainer<N> {
            fatalError("nested values are not stored")
        }
        func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { fatalError("nested values are not stored") }
        func superEncoder() -> any Encoder { fatalError("no super encoder") }
        func superEncoder(forKey key: Key) -> any Encoder { fatalError("no super encoder") }
    }
}

extension SQLSession {
    /// Inserts `record`'s columns, leaving out `id` when it is nil; returns the new id for
    /// tables keyed by `id`, else nil.
    @discardableResult
    func insert<R: StoredRecord>(_ record: R, orReplaceOn conflict: [String]? = nil) throws -> Int64? {
        var columns = try SQLRowEncoder.encode(record)
        let hasID = columns.contains { $0.column == "id" }
        if let i = columns.firstIndex(where: { $0.column == "id" }), columns[i].value == .null { columns.remove(at: i) }
        var sql = "INSERT INTO \(R.tableName) (\(columns.map(\.column).joined(separator: ", "))) VALUES ("
            + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
        if let conflict {
            let rest = columns.filter { !conflict.contains($0.column) }
            sql += " ON CONFLICT (\(conflict.joined(separator: ", "))) DO "
                + (rest.isEmpty ? "NOTHING" : "UPDATE SET " + rest.map { "\($0.column) = excluded.\($0.column)" }.joined(separator: ", "))
        }
        if hasID && conflict == nil { return try insertReturningID(sql, columns.map(\.value)) }
        try execute(sql, columns.map(\.value))
        return nil
    }

    /// Updates every column of the row whose `key` columns equal the record's.
    @discardableResult
    func update<R: StoredRecord>(_ record: R, key: [String] = ["id"]) throws -> Int {
        let columns = try SQLRowEncoder.encode(record)
        let set = columns.filter { !key.contains($0.column) }
        let keys = key.map { k in columns.first { $0.column == k }?.value ?? .null }
        let sql = "UPDATE \(R.tableName) SET " + set.map { "\($0.column) = ?" }.joined(separator: ", ")
            + " WHERE " + key.map { "\($0) = ?" }.joined(separator: " AND ")
        return try execute(sql, set.map(\.value) + keys)
    }
}
