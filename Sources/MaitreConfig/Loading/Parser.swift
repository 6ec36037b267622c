/// One directive as written: its name, arguments, where it ends, and its block when it opens one.
struct Directive {
    var name: String
    var arguments: [String]
    /// The line of the `;` or `{` that ends the directive, which is where nginx reports it.
    var location: SourceLocation
    var block: Block?
}

/// The contents of `{ ... }` (or of a whole file), with includes already expanded in place.
struct Block {
    var items: [BlockItem]
    /// The line of the closing `}`; nginx reports checks made once a block is complete (e.g. merge errors) there.
    var end: SourceLocation
}

enum BlockItem {
    case directive(Directive)
    /// A syntax or include error. Reading stops at the first one; the builder throws it when its walk gets there,
    /// so an earlier error in file order is still the one reported, as nginx reads and applies directives in one pass.
    case failure(ConfigError)
}

/// Turns text into a directive tree, following `include` (with globs) relative to the conf prefix, and records every
/// file read for `-T`.
struct Parser {
    /// nginx resolves includes against the directory of the main file.
    let confPrefix: String
    private(set) var files: [LoadedFile] = []
    private var includeDepth = 0
    /// Guards against a file including itself; nginx would fail later on "Too many open files".
    private static let maximumIncludeDepth = 64

    init(confPrefix: String) {
        self.confPrefix = confPrefix
    }

    private enum Kind { case file, nestedBlock, commandLine }

    /// Parses the `-g` string, in which blocks are refused.
    mutating func parseCommandLine(_ text: String) -> Block {
        var lexer = Lexer(text: text, fileName: "", source: .commandLine)
        return parseItems(&lexer, kind: .commandLine).block
    }

    mutating func parseFile(path: String, text: String) -> Block {
        if !files.contains(where: { $0.path == path }) {
            files.append(LoadedFile(path: path, contents: text))
        }
        var lexer = Lexer(text: text, fileName: path, source: .file)
        return parseItems(&lexer, kind: .file).block
    }

    /// Returns the items read and whether reading stopped at a failure (then everything enclosing stops too).
    private mutating func parseItems(_ lexer: inout Lexer, kind: Kind) -> (block: Block, failed: Bool) {
        var items: [BlockItem] = []
        while true {
            let statement: LexedStatement
            do {
                statement = try lexer.next()
            } catch {
                items.append(.failure(error))
                return (Block(items: items, end: lexer.currentLocation), true)
            }
            switch statement {
            case .endOfInput:
                if kind == .nestedBlock {
                    items.append(.failure(ConfigError("unexpected end of file, expecting \"}\"", at: lexer.currentLocation)))
                    return (Block(items: items, end: lexer.currentLocation), true)
                }
                return (Block(items: items, end: lexer.currentLocation), false)

            case .blockEnd:
                if kind != .nestedBlock {
                    items.append(.failure(ConfigError("unexpected \"}\"", at: lexer.currentLocation)))
                    return (Block(items: items, end: lexer.currentLocation), true)
                }
                return (Block(items: items, end: lexer.currentLocation), false)

            case .directive(let words, _):
                let directive = Directive(
                    name: words[0], arguments: Array(words.dropFirst()), location: lexer.currentLocation, block: nil)
                if directive.name == "include" && directive.arguments.count == 1 {
                    let failed = include(directive, into: &items)
                    if failed { return (Block(items: items, end: lexer.currentLocation), true) }
                } else {
                    items.append(.directive(directive))
                }

            case .blockStart(let words, _):
                if kind == .commandLine {
                    items.append(
                        .failure(ConfigError("block directives are not supported in -g option", at: .commandLine)))
                    return (Block(items: items, end: lexer.currentLocation), true)
                }
                let location = lexer.currentLocation
                let (inner, failed) = parseItems(&lexer, kind: .nestedBlock)
                items.append(
                    .directive(
                        Directive(name: words[0], arguments: Array(words.dropFirst()), location: location, block: inner)))
                if failed { return (Block(items: items, end: lexer.currentLocation), true) }
            }
        }
    }

    /// Expands `include PATH;` in place: a path with `*?[` is a glob (matching nothing is fine), otherwise the file
    /// must exist. Returns true when it failed.
    private mutating func include(_ directive: Directive, into items: inout [BlockItem]) -> Bool {
        let pattern = FileSystem.absolute(directive.arguments[0], against: confPrefix)
        do throws(ConfigError) {
            let paths: [String]
            if pattern.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" }) {
                paths = try FileSystem.glob(pattern, reportedAt: directive.location)
            } else {
                paths = [pattern]
            }
            for path in paths {
                if includeDepth >= Self.maximumIncludeDepth {
                    throw ConfigError("include nesting is too deep (\"\(path)\")", at: directive.location)
                }
                let text = try FileSystem.readFile(path, reportedAt: directive.location)
                includeDepth += 1
                defer { includeDepth -= 1 }
                if !files.contains(where: { $0.path == path }) {
                    files.append(LoadedFile(path: path, contents: text))
                }
                var lexer = Lexer(text: text, fileName: path, source: .file)
                let (block, failed) = parseItems(&lexer, kind: .file)
                items.append(contentsOf: block.items)
                if failed { return true }
            }
            return false
        } catch {
            items.append(.failure(error))
            return true
        }
    }
}
