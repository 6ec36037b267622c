import XCTest
import Glibc
@testable import MaitreConfig

/// Resolves names from a fixed table, so tests never touch DNS.
struct FakeResolver: HostResolver {
    var table: [String: [String]]

    init(_ table: [String: [String]] = [:]) {
        self.table = table
    }

    /// Every `serverN.example.com`-style name the article uses, plus a few of our own.
    static let standard = FakeResolver([
        "server1.example.com": ["127.0.0.1"], "server2.example.com": ["127.0.0.2"],
        "server3.example.com": ["127.0.0.3"],
        "api1.example.com": ["127.0.1.1"], "api2.example.com": ["127.0.1.2"],
        "web1.example.com": ["127.0.2.1"], "web2.example.com": ["127.0.2.2"],
        "app1.example.com": ["127.0.3.1"], "app2.example.com": ["127.0.3.2"], "app3.example.com": ["127.0.3.3"],
        "api1": ["127.0.4.1"], "api2": ["127.0.4.2"], "api3": ["127.0.4.3"],
        "static1": ["127.0.5.1"], "static2": ["127.0.5.2"], "static3": ["127.0.5.3"],
        "session1": ["127.0.6.1"], "session2": ["127.0.6.2"],
        "web1": ["127.0.7.1"], "web2": ["127.0.7.2"],
        "server1": ["127.0.8.1"], "server2": ["127.0.8.2"],
        "backend.local": ["10.0.0.1", "10.0.0.2", "::1"],
        "localhost": ["127.0.0.1", "::1"],
    ])

    func resolve(host: String, port: Int) throws -> [ResolvedAddress] {
        (table[host] ?? []).map { ResolvedAddress(ip: $0, port: port) }
    }
}

/// A fresh directory under /tmp, removed by the test's teardown.
final class TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/maitre-config-test-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    func write(_ name: String, _ contents: String) -> String {
        let full = file(name)
        if let slash = name.lastIndex(of: "/") {
            mkdir(path + "/" + name[..<slash], 0o755)
        }
        let handle = fopen(full, "w")!
        fputs(contents, handle)
        fclose(handle)
        return full
    }

    func remove() {
        _ = system("rm -rf '\(path)'")
    }
}

class ConfigTestCase: XCTestCase {
    var directory: TemporaryDirectory!
    var mainFile: String { directory.file("maitre.conf") }

    override func setUp() {
        super.setUp()
        directory = TemporaryDirectory()
    }

    override func tearDown() {
        directory.remove()
        super.tearDown()
    }

    func load(
        _ text: String, globalDirectives: String? = nil, resolver: FakeResolver = .standard,
        file: StaticString = #filePath, line: UInt = #line
    ) -> Configuration? {
        do {
            return try ConfigLoader.load(
                text: text, file: mainFile, prefix: directory.path, globalDirectives: globalDirectives,
                resolver: resolver)
        } catch {
            XCTFail("unexpected error: \(error)", file: file, line: line)
            return nil
        }
    }

    /// Loads an `http { }` body and returns the http part.
    func loadHTTP(
        _ body: String, resolver: FakeResolver = .standard, file: StaticString = #filePath, line: UInt = #line
    ) -> HTTPConfiguration? {
        load("http {\n\(body)\n}\n", resolver: resolver, file: file, line: line)?.http
    }

    /// Asserts that loading fails with exactly `expected` (the `description`, e.g. `... in /tmp/x/maitre.conf:3`);
    /// `@:` in `expected` stands for the main file's path and the colon.
    func assertError(
        _ text: String, _ expected: String, globalDirectives: String? = nil, resolver: FakeResolver = .standard,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let wanted = expected.replacingOccurrences(of: "@:", with: mainFile + ":")
        do {
            _ = try ConfigLoader.load(
                text: text, file: mainFile, prefix: directory.path, globalDirectives: globalDirectives,
                resolver: resolver)
            XCTFail("expected error: \(wanted)", file: file, line: line)
        } catch {
            XCTAssertEqual(error.description, wanted, file: file, line: line)
        }
    }

    /// `assertError` for an `http { }` body: the body starts on line 2.
    func assertHTTPError(
        _ body: String, _ expected: String, resolver: FakeResolver = .standard,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        assertError("http {\n\(body)\n}\n", expected, resolver: resolver, file: file, line: line)
    }
}

extension String {
    /// Foundation-free replacement, enough for test messages.
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = Substring(self)
        while let range = rest.range(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}

extension Substring {
    func range(of target: String) -> Range<Substring.Index>? {
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(target) {
                return index..<self.index(index, offsetBy: target.count)
            }
            index = self.index(after: index)
        }
        return nil
    }
}

extension Location {
    var prefixName: String? {
        switch match {
        case .exact(let name), .prefix(let name, _): return name
        case .regex(let regex): return regex.pattern
        }
    }

    var proxyPass: ProxyPass? {
        if case .proxyPass(let pass) = handler { return pass }
        return nil
    }

    var returnAction: ReturnAction? {
        if case .return(let action) = handler { return action }
        return nil
    }
}
