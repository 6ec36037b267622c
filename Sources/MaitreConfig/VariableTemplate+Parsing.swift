extension VariableTemplate {
    /// Compiles a directive value the way ngx_http_script_compile reads it: `$name` or `${name}`, names made of
    /// letters, digits and `_`, looked up case-insensitively. Regex captures (`$1`) are refused: maitred has none.
    /// `context` says which module's variables exist (http's and stream's sets differ).
    static func parse(
        _ text: String, at location: SourceLocation, context: ProxyContext = .http
    ) throws(ConfigError) -> VariableTemplate {
        let bytes = Array(text.utf8)
        var parts: [Part] = []
        var literal: [UInt8] = []
        var index = 0

        func isNameByte(_ c: UInt8) -> Bool {
            (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z"))
                || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_")
        }

        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "$") else {
                literal.append(bytes[index])
                index += 1
                continue
            }
            index += 1
            guard index < bytes.count else { throw ConfigError("invalid variable name", at: location) }
            if bytes[index] >= UInt8(ascii: "1") && bytes[index] <= UInt8(ascii: "9") {
                throw ConfigError(
                    "regex captures are not supported (\"$\(String(UnicodeScalar(bytes[index])))\")", at: location)
            }
            var bracket = false
            if bytes[index] == UInt8(ascii: "{") {
                bracket = true
                index += 1
                guard index < bytes.count else { throw ConfigError("invalid variable name", at: location) }
            }
            var name: [UInt8] = []
            while index < bytes.count {
                let c = bytes[index]
                if c == UInt8(ascii: "}") && bracket {
                    index += 1
                    bracket = false
                    break
                }
                guard isNameByte(c) else { break }
                name.append(c)
                index += 1
            }
            let nameText = String(decoding: name, as: UTF8.self)
            if bracket {
                throw ConfigError("the closing bracket in \"\(nameText)\" variable is missing", at: location)
            }
            guard !name.isEmpty else { throw ConfigError("invalid variable name", at: location) }
            guard let variable = Variable(name: nameText.lowercased()), variable.exists(in: context) else {
                throw ConfigError("unknown \"\(nameText)\" variable", at: location)
            }
            if !literal.isEmpty {
                parts.append(.literal(String(decoding: literal, as: UTF8.self)))
                literal.removeAll()
            }
            parts.append(.variable(variable))
        }
        if !literal.isEmpty { parts.append(.literal(String(decoding: literal, as: UTF8.self))) }
        return VariableTemplate(parts: parts)
    }
}
