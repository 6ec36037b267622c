/// Loads an nginx-dialect configuration: reads the file tree, parses, validates and resolves upstream host names.
public enum ConfigLoader {
    /// Reads `file` (relative paths resolved against `prefix`), follows includes, parses, validates, resolves upstream hostnames.
    /// `globalDirectives` is the text of `-g` (main-context directives, e.g. "worker_processes 2; pid /tmp/x.pid;"), parsed as if
    /// it were part of main context (nginx reports its errors against "command line").
    public static func load(
        file: String, prefix: String, globalDirectives: String? = nil,
        resolver: any HostResolver = SystemHostResolver()
    ) throws(ConfigError) -> Configuration {
        let prefixDirectory = FileSystem.directoryPrefix(prefix)
        let mainFile = FileSystem.absolute(file, against: prefixDirectory)
        let text = try FileSystem.readFile(mainFile, reportedAt: nil)
        return try build(
            text: text, mainFile: mainFile, prefixDirectory: prefixDirectory, globalDirectives: globalDirectives,
            resolver: resolver)
    }

    /// Same from an in-memory main text (tests; includes still read from disk relative to the directory of `file`).
    public static func load(
        text: String, file: String, prefix: String, globalDirectives: String? = nil,
        resolver: any HostResolver = SystemHostResolver()
    ) throws(ConfigError) -> Configuration {
        let prefixDirectory = FileSystem.directoryPrefix(prefix)
        let mainFile = FileSystem.absolute(file, against: prefixDirectory)
        return try build(
            text: text, mainFile: mainFile, prefixDirectory: prefixDirectory, globalDirectives: globalDirectives,
            resolver: resolver)
    }

    /// `-g` is applied first, then the file, in one main context, as nginx does (so `-g "pid x;"` plus a `pid`
    /// in the file is a duplicate reported in the file).
    private static func build(
        text: String, mainFile: String, prefixDirectory: String, globalDirectives: String?,
        resolver: any HostResolver
    ) throws(ConfigError) -> Configuration {
        // nginx's conf prefix: includes are relative to the main file's directory.
        var parser = Parser(confPrefix: FileSystem.directory(of: mainFile))
        let builder = ConfigBuilder(resolver: resolver, prefix: prefixDirectory)
        if let globalDirectives {
            try builder.applyMain(parser.parseCommandLine(globalDirectives))
        }
        let tree = parser.parseFile(path: mainFile, text: text)
        try builder.applyMain(tree)
        return builder.configuration(mainFile: mainFile, files: parser.files)
    }
}
