extension StringProtocol {
    /// Case-insensitive equality for ASCII header names, without allocating lowercased copies.
    @inline(__always)
    func equalsIgnoringASCIICase<Other: StringProtocol>(_ other: Other) -> Bool {
        let a = utf8
        let b = other.utf8
        guard a.count == b.count else { return false }
        var i = a.startIndex
        var j = b.startIndex
        while i != a.endIndex {
            let x = a[i]
            let y = b[j]
            if x != y {
                guard x | 0x20 == y | 0x20, (x | 0x20) >= UInt8(ascii: "a"), (x | 0x20) <= UInt8(ascii: "z") else {
                    return false
                }
            }
            i = a.index(after: i)
            j = b.index(after: j)
        }
        return true
    }
}
