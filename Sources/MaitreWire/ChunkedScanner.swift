/// Follows a chunked body (RFC 9112 §7.1) across however the bytes arrive, to find where it ends and which
/// bytes are chunk data, without copying. The proxy passes chunked bodies through unchanged to HTTP/1.1 clients
/// and needs only the end; for HTTP/1.0 clients it forwards just the data ranges.
public struct ChunkedScanner: Sendable {
    enum State: Sendable, Equatable {
        case size
        case sizeExtension
        case sizeLF
        case data(remaining: Int64)
        case dataCR
        case dataLF
        /// After the last chunk: trailer lines until an empty line.
        case trailerLineStart
        case trailerLine
        case trailerLF(empty: Bool)
        case done
    }

    private var state: State = .size
    private var size: Int64 = 0
    private var sizeDigits = 0

    public init() {}

    public var isComplete: Bool { state == .done }

    public enum Failure: Error, Equatable {
        case invalid(String)
    }

    /// Scans `bytes`, calling `data` with each range of chunk payload. Returns how many bytes belong to this body
    /// (all of them unless it ended inside `bytes`).
    public mutating func scan(_ bytes: UnsafeRawBufferPointer, data: (Range<Int>) -> Void) throws(Failure) -> Int {
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            switch state {
            case .size:
                if let digit = hexValue(b) {
                    sizeDigits += 1
                    guard sizeDigits <= 15 else { throw .invalid("chunk size too large") }
                    size = size * 16 + Int64(digit)
                } else if sizeDigits == 0 {
                    throw .invalid("invalid chunk size")
                } else if b == UInt8(ascii: ";") || b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") {
                    state = .sizeExtension
                } else if b == UInt8(ascii: "\r") {
                    state = .sizeLF
                } else {
                    throw .invalid("invalid chunk size")
                }
                i += 1
            case .sizeExtension:
                if b == UInt8(ascii: "\r") {
                    state = .sizeLF
                } else if b == UInt8(ascii: "\n") || (b < 0x20 && b != UInt8(ascii: "\t")) || b == 0x7F {
                    throw .invalid("invalid chunk extension")
                }
                i += 1
            case .sizeLF:
                guard b == UInt8(ascii: "\n") else { throw .invalid("invalid chunk line") }
                i += 1
                if size == 0 {
                    state = .trailerLineStart
                } else {
                    state = .data(remaining: size)
                }
                size = 0
                sizeDigits = 0
            case .data(let remaining):
                let take = Int(min(remaining, Int64(n - i)))
                data(i..<(i + take))
                i += take
                state = remaining == Int64(take) ? .dataCR : .data(remaining: remaining - Int64(take))
            case .dataCR:
                guard b == UInt8(ascii: "\r") else { throw .invalid("missing CRLF after chunk data") }
                state = .dataLF
                i += 1
            case .dataLF:
                guard b == UInt8(ascii: "\n") else { throw .invalid("missing CRLF after chunk data") }
                state = .size
                i += 1
            case .trailerLineStart:
                if b == UInt8(ascii: "\r") {
                    state = .trailerLF(empty: true)
                } else if b == UInt8(ascii: "\n") {
                    throw .invalid("invalid trailer")
                } else {
                    state = .trailerLine
                }
                i += 1
            case .trailerLine:
                if b == UInt8(ascii: "\r") {
                    state = .trailerLF(empty: false)
                } else if b == UInt8(ascii: "\n") || b == 0 {
                    throw .invalid("invalid trailer")
                }
                i += 1
            case .trailerLF(let empty):
                guard b == UInt8(ascii: "\n") else { throw .invalid("invalid trailer") }
                i += 1
                if empty {
                    state = .done
                    return i
                }
                state = .trailerLineStart
            case .done:
                return i
            }
        }
        return i
    }

    @inline(__always)
    private func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
