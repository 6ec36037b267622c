/// How one lexer read ended, as ngx_conf_read_token reports it.
enum LexedStatement {
    /// Words ended by `;`.
    case directive([String], line: Int)
    /// Words ended by `{`.
    case blockStart([String], line: Int)
    /// A `}`.
    case blockEnd(line: Int)
    case endOfInput(line: Int)
}

/// nginx's configuration tokenizer (a port of ngx_conf_read_token): words, quoted strings, backslash escapes,
/// `#` comments and `${name}`, with nginx's error texts and line counting.
struct Lexer {
    /// Whether the text is a file or the `-g` parameter string: they word their end-of-input error differently.
    enum Source { case file, commandLine }

    private let bytes: [UInt8]
    private let source: Source
    private let fileName: String
    private var position = 0
    /// The line the lexer is on; nginx reports errors, and directives, at this line.
    private(set) var line = 1

    init(text: String, fileName: String, source: Source) {
        self.bytes = Array(text.utf8)
        self.fileName = fileName
        self.source = source
    }

    var currentLocation: SourceLocation {
        source == .commandLine ? .commandLine : SourceLocation(file: fileName, line: line)
    }

    private func error(_ message: String) -> ConfigError {
        ConfigError(message, at: currentLocation)
    }

    private static func isSpace(_ c: UInt8) -> Bool {
        c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") || c == UInt8(ascii: "\n")
    }

    private static func quote(_ c: UInt8) -> String {
        String(UnicodeScalar(c))
    }

    mutating func next() throws(ConfigError) -> LexedStatement {
        var words: [String] = []
        var needSpace = false
        var lastSpace = true
        var sharpComment = false
        var variable = false
        var quoted = false
        var singleQuoted = false
        var doubleQuoted = false
        var start = position

        while true {
            if position >= bytes.count {
                if !words.isEmpty || !lastSpace {
                    if source == .commandLine {
                        throw error("unexpected end of parameter, expecting \";\"")
                    }
                    throw error("unexpected end of file, expecting \";\" or \"}\"")
                }
                return .endOfInput(line: line)
            }

            let ch = bytes[position]
            position += 1

            if ch == UInt8(ascii: "\n") {
                line += 1
                sharpComment = false
            }
            if sharpComment { continue }
            if quoted {
                quoted = false
                continue
            }

            if needSpace {
                if Self.isSpace(ch) {
                    lastSpace = true
                    needSpace = false
                    continue
                }
                if ch == UInt8(ascii: ";") { return .directive(words, line: line) }
                if ch == UInt8(ascii: "{") { return .blockStart(words, line: line) }
                if ch == UInt8(ascii: ")") {
                    lastSpace = true
                    needSpace = false
                } else {
                    throw error("unexpected \"\(Self.quote(ch))\"")
                }
            }

            if lastSpace {
                start = position - 1
                if Self.isSpace(ch) { continue }
                switch ch {
                case UInt8(ascii: ";"), UInt8(ascii: "{"):
                    if words.isEmpty { throw error("unexpected \"\(Self.quote(ch))\"") }
                    return ch == UInt8(ascii: "{") ? .blockStart(words, line: line) : .directive(words, line: line)
                case UInt8(ascii: "}"):
                    if !words.isEmpty { throw error("unexpected \"}\"") }
                    return .blockEnd(line: line)
                case UInt8(ascii: "#"):
                    sharpComment = true
                    continue
                case UInt8(ascii: "\\"):
                    quoted = true
                    lastSpace = false
                    continue
                case UInt8(ascii: "\""):
                    start += 1
                    doubleQuoted = true
                    lastSpace = false
                    continue
                case UInt8(ascii: "'"):
                    start += 1
                    singleQuoted = true
                    lastSpace = false
                    continue
                case UInt8(ascii: "$"):
                    variable = true
                    lastSpace = false
                    continue
                default:
                    lastSpace = false
                }
            } else {
                // `${` must not end the word at the brace.
                if ch == UInt8(ascii: "{") && variable { continue }
                variable = false
                if ch == UInt8(ascii: "\\") {
                    quoted = true
                    continue
                }
                if ch == UInt8(ascii: "$") {
                    variable = true
                    continue
                }

                var found = false
                if doubleQuoted {
                    if ch == UInt8(ascii: "\"") {
                        doubleQuoted = false
                        needSpace = true
                        found = true
                    }
                } else if singleQuoted {
                    if ch == UInt8(ascii: "'") {
                        singleQuoted = false
                        needSpace = true
                        found = true
                    }
                } else if Self.isSpace(ch) || ch == UInt8(ascii: ";") || ch == UInt8(ascii: "{") {
                    lastSpace = true
                    found = true
                }

                if found {
                    words.append(Self.unescape(bytes[start..<(position - 1)]))
                    if ch == UInt8(ascii: ";") { return .directive(words, line: line) }
                    if ch == UInt8(ascii: "{") { return .blockStart(words, line: line) }
                }
            }
        }
    }

    /// nginx keeps `\"`, `\'`, `\\` as the character, turns `\t`, `\r`, `\n` into controls, and leaves any other
    /// backslash in place (so `\d` reaches a regex intact).
    private static func unescape(_ raw: ArraySlice<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var index = raw.startIndex
        while index < raw.endIndex {
            let byte = raw[index]
            if byte == UInt8(ascii: "\\"), index + 1 < raw.endIndex {
                let next = raw[index + 1]
                switch next {
                case UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "\\"):
                    out.append(next)
                    index += 2
                    continue
                case UInt8(ascii: "t"):
                    out.append(UInt8(ascii: "\t"))
                    index += 2
                    continue
                case UInt8(ascii: "r"):
                    out.append(UInt8(ascii: "\r"))
                    index += 2
                    continue
                case UInt8(ascii: "n"):
                    out.append(UInt8(ascii: "\n"))
                    index += 2
                    continue
                default:
                    break
                }
            }
            out.append(byte)
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
