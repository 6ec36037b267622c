/// The request values nginx's variables dig out of the query string and headers: `$arg_NAME`, `$cookie_NAME` and
/// `$remote_user`. Pure: strings in, strings out; nil where nginx's variable is "not found".
enum RequestFields {
    /// ngx_http_arg: NAME matched without regard to case, at the start of the query or after `&`, and followed by
    /// `=`; the value runs to the next `&` (not decoded).
    static func argument(_ name: String, in query: String) -> String? {
        let wanted = Array(name.utf8)
        let bytes = Array(query.utf8)
        guard !wanted.isEmpty else { return nil }
        var start = 0
        while start + wanted.count < bytes.count {
            if bytes[start + wanted.count] == UInt8(ascii: "="),
                zip(bytes[start..<(start + wanted.count)], wanted).allSatisfy({ lower($0) == lower($1) })
            {
                let valueStart = start + wanted.count + 1
                let valueEnd = bytes[valueStart...].firstIndex(of: UInt8(ascii: "&")) ?? bytes.count
                return String(decoding: bytes[valueStart..<valueEnd], as: UTF8.self)
            }
            guard let next = bytes[start...].firstIndex(of: UInt8(ascii: "&")) else { return nil }
            start = next + 1
        }
        return nil
    }

    /// ngx_http_parse_multi_header_lines over the Cookie headers: NAME (without regard to case) at the start of a
    /// header or after `;`/`,` and spaces, followed by `=`; the value runs to the next `;` or `,`.
    static func cookie(_ name: String, in headers: [String]) -> String? {
        for header in headers {
            for pair in header.split(whereSeparator: { $0 == ";" || $0 == "," }) {
                let trimmed = pair.drop { $0 == " " || $0 == "\t" }
                guard let equals = trimmed.firstIndex(of: "="),
                    trimmed[..<equals].lowercased() == name.lowercased()
                else { continue }
                return String(trimmed[trimmed.index(after: equals)...]).trimmingTrailingSpaces()
            }
        }
        return nil
    }

    /// `$remote_user`: the user name of `Authorization: Basic base64(user:password)`; nil for another scheme or
    /// a value that does not decode.
    static func basicUser(authorization: String) -> String? {
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let decoded = base64Decode(parts[1].trimmingCharacters(in: " \t")),
            let colon = decoded.firstIndex(of: UInt8(ascii: ":"))
        else { return nil }
        return String(decoding: decoded[..<colon], as: UTF8.self)
    }

    private static func lower(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
    }

    /// Standard base64 with padding (RFC 4648 §4), as nginx's ngx_decode_base64; nil on any other byte.
    static func base64Decode(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        values.reserveCapacity(text.utf8.count)
        var padding = 0
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): values.append(byte - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): values.append(byte - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): values.append(byte - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "+"): values.append(62)
            case UInt8(ascii: "/"): values.append(63)
            case UInt8(ascii: "="): padding += 1; continue
            default: return nil
            }
            if padding > 0 { return nil }  // data after padding
        }
        guard padding <= 2, (values.count + padding) % 4 == 0 || padding == 0 else { return nil }
        var out: [UInt8] = []
        var index = 0
        while index + 1 < values.count {
            let a = values[index], b = values[index + 1]
            out.append(a << 2 | b >> 4)
            if index + 2 < values.count {
                let c = values[index + 2]
                out.append((b & 0x0F) << 4 | c >> 2)
                if index + 3 < values.count { out.append((c & 0x03) << 6 | values[index + 3]) }
            }
            index += 4
        }
        return out
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }

    fileprivate func trimmingTrailingSpaces() -> String { trimmingCharacters(in: " \t") }
}
