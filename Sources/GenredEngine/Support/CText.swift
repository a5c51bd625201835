/// The text a C function wrote into `buffer`, up to its terminating zero (all of it when there is none).
package func cText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
