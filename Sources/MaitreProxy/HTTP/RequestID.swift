/// `$request_id`: 16 random bytes as 32 hex digits, made the first time a request asks for it and the same for the
/// rest of that request (its `proxy_set_header X-Request-ID $request_id` and its access-log line agree).
final class RequestIDSlot {
    private var value: String?
    /// The loop's generator (seeded once per loop, not per connection).
    private let generator: RequestIDGenerator.Shared

    init(generator: RequestIDGenerator.Shared) {
        self.generator = generator
    }

    /// A new request: the next `get` makes a fresh id.
    func reset() { value = nil }

    /// The id made for this request so far, if any (the access log makes one only when its format asks).
    var current: String? { value }

    func get() -> String {
        if let value { return value }
        let made = generator.value.next()
        value = made
        return made
    }
}

/// The random bits behind `$request_id`: xoshiro256** seeded once from the system's generator (nginx uses its own
/// non-cryptographic generator too; an id must be unique, not secret). One per connection, on its event loop.
struct RequestIDGenerator {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    /// One loop's generator, shared by its connections.
    final class Shared {
        var value = RequestIDGenerator()
    }

    init() {
        var system = SystemRandomNumberGenerator()
        state = (system.next(), system.next(), system.next(), system.next() | 1)
    }

    private mutating func nextWord() -> UInt64 {
        let result = rotate(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotate(state.3, 45)
        return result
    }

    private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    mutating func next() -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: 0, count: 32)
        for half in 0..<2 {
            var word = nextWord()
            for index in 0..<16 {
                out[half * 16 + 15 - index] = digits[Int(word & 0xF)]
                word >>= 4
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

@available(*, unavailable)
extension RequestIDSlot: Sendable {}
