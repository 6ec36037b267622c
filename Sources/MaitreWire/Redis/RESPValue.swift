/// A value of RESP2, the Redis serialization protocol: what a Redis server replies and pushes.
public enum RESPValue: Sendable, Equatable {
    case simpleString([UInt8])
    case error([UInt8])
    case integer(Int64)
    /// A bulk string; nil is the null bulk string (`$-1`), e.g. MGET's answer for a missing key.
    case bulk([UInt8]?)
    /// nil is the null array (`*-1`).
    case array([RESPValue]?)

    /// The bytes of a simple or bulk string.
    public var bytes: [UInt8]? {
        switch self {
        case .simpleString(let bytes): return bytes
        case .bulk(let bytes): return bytes
        default: return nil
        }
    }

    public var text: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    public var elements: [RESPValue]? {
        if case .array(let elements?) = self { return elements }
        return nil
    }

    public var isError: Bool {
        if case .error = self { return true }
        return false
    }
}

/// Encodes commands as RESP arrays of bulk strings, the form every Redis command is sent in.
public enum RESPCommand {
    public static func encode(_ parts: [[UInt8]], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "*"))
        out.append(contentsOf: String(parts.count).utf8)
        out.append(contentsOf: [0x0D, 0x0A])
        for part in parts {
            out.append(UInt8(ascii: "$"))
            out.append(contentsOf: String(part.count).utf8)
            out.append(contentsOf: [0x0D, 0x0A])
            out.append(contentsOf: part)
            out.append(contentsOf: [0x0D, 0x0A])
        }
    }

    public static func encode(_ parts: [String]) -> [UInt8] {
        var out: [UInt8] = []
        encode(parts.map { Array($0.utf8) }, into: &out)
        return out
    }
}
