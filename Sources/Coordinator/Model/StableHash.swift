/// The 64-bit FNV-1a hash: stable across processes, machines and releases (Swift's `Hasher`
/// is seeded per process), for choices that must come out the same every time.
enum StableHash {
    static func fnv1a(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
