#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The little file access the loader needs, on libc directly (the module stays free of Foundation).
enum FileSystem {
    /// nginx's `strerror` suffix: ` (2: No such file or directory)`.
    static func errnoSuffix(_ code: Int32) -> String {
        " (\(code): \(String(cString: strerror(code))))"
    }

    /// The whole file as text; throws nginx's `open() "/x" failed (2: No such file or directory)` wording.
    static func readFile(_ path: String, reportedAt location: SourceLocation?) throws(ConfigError) -> String {
        let fd = open(path, O_RDONLY)
        if fd < 0 {
            throw ConfigError("open() \"\(path)\" failed" + errnoSuffix(errno), at: location)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ConfigError("read() \"\(path)\" failed" + errnoSuffix(errno), at: location)
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// glob(3) in sorted order, as ngx_open_glob; a pattern matching nothing gives no files, not an error.
    static func glob(_ pattern: String, reportedAt location: SourceLocation?) throws(ConfigError) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        #if canImport(Glibc)
        let status = Glibc.glob(pattern, 0, nil, &result)
        #else
        let status = Darwin.glob(pattern, 0, nil, &result)
        #endif
        if status == GLOB_NOMATCH { return [] }
        if status != 0 {
            throw ConfigError("glob() \"\(pattern)\" failed" + errnoSuffix(errno), at: location)
        }
        var paths: [String] = []
        for index in 0..<Int(result.gl_pathc) {
            if let path = result.gl_pathv[index] { paths.append(String(cString: path)) }
        }
        return paths
    }

    static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "/" }
        return string(fromCString: buffer)
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return string(fromCString: buffer).lowercased()
    }

    /// The text of a NUL-terminated buffer.
    static func string(fromCString buffer: [CChar]) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `name` made absolute against `directory` (which ends with `/`), without touching `..`, as ngx_get_full_name.
    static func absolute(_ name: String, against directory: String) -> String {
        name.hasPrefix("/") ? name : directory + name
    }

    /// An absolute directory path ending with `/`.
    static func directoryPrefix(_ path: String) -> String {
        var absolutePath = path.hasPrefix("/") ? path : currentDirectory() + "/" + path
        if !absolutePath.hasSuffix("/") { absolutePath += "/" }
        return absolutePath
    }

    /// The directory part of an absolute file path, ending with `/` (nginx's conf prefix).
    static func directory(of file: String) -> String {
        guard let slash = file.lastIndex(of: "/") else { return "./" }
        return String(file[...slash])
    }
}
