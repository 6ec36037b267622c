/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as nginx's `ngx_crc32_*` computes it: the hash modules'
/// key and point hashing must match nginx's bit for bit so that a key maps to the same server after a move.
struct CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 {
            value = value & 1 == 1 ? (value >> 1) ^ 0xEDB8_8320 : value >> 1
        }
        return value
    }

    /// `ngx_crc32_init`.
    private(set) var state: UInt32 = 0xFFFF_FFFF

    /// `ngx_crc32_update`.
    mutating func update(_ bytes: some Sequence<UInt8>) {
        var crc = state
        for byte in bytes {
            crc = Self.table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        state = crc
    }

    /// `ngx_crc32_final`.
    var final: UInt32 { state ^ 0xFFFF_FFFF }

    /// `ngx_crc32_long`.
    static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.final
    }
}
