import XCTest
@testable import MaitreConfig

final class LexerTests: XCTestCase {
    private func statements(_ text: String, source: Lexer.Source = .file) throws -> [String] {
        var lexer = Lexer(text: text, fileName: "/t.conf", source: source)
        var out: [String] = []
        while true {
            switch try lexer.next() {
            case .directive(let words, let line): out.append("\(line): \(words.joined(separator: "|")) ;")
            case .blockStart(let words, let line): out.append("\(line): \(words.joined(separator: "|")) {")
            case .blockEnd(let line): out.append("\(line): }")
            case .endOfInput: return out
            }
        }
    }

    private func lexError(_ text: String, source: Lexer.Source = .file) -> String? {
        do {
            _ = try statements(text, source: source)
            return nil
        } catch {
            return (error as? ConfigError)?.description
        }
    }

    func testWordsBlocksAndLines() throws {
        XCTAssertEqual(try statements("a b;\nhttp {\n  c  d\te;\n}\n"), ["1: a|b ;", "2: http {", "3: c|d|e ;", "4: }"])
    }

    func testDirectiveIsPlacedAtItsTerminator() throws {
        XCTAssertEqual(try statements("listen\n  80\n  ;"), ["3: listen|80 ;"])
    }

    func testComments() throws {
        XCTAssertEqual(try statements("# x ; {\na b; # c }\nd;"), ["2: a|b ;", "3: d ;"])
        XCTAssertEqual(try statements("a b#c;"), ["1: a|b#c ;"], "# inside a word is not a comment")
    }

    func testQuotedStringsAndEscapes() throws {
        XCTAssertEqual(try statements(#"a "x y" 'p q';"#), ["1: a|x y|p q ;"])
        XCTAssertEqual(try statements(#"a "say \"hi\"" 'it\'s' "b\\s";"#), [#"1: a|say "hi"|it's|b\s ;"#])
        XCTAssertEqual(try statements(#"a "\t\r\n";"#), ["1: a|\t\r\n ;"])
        XCTAssertEqual(try statements(#"a \d+ "\x";"#), [#"1: a|\d+|\x ;"#], "other escapes keep their backslash")
        XCTAssertEqual(try statements(#"a "";"#), ["1: a| ;"])
        XCTAssertEqual(try statements("a b\\ c;"), ["1: a|b\\ c ;"], "an escaped space joins the word, backslash kept")
        XCTAssertEqual(try statements("a \"x\"{ }"), ["1: a|x {", "1: }"])
    }

    func testVariablesWithBraces() throws {
        XCTAssertEqual(try statements("a ${host}x $y{ }"), ["1: a|${host}x|$y {", "1: }"])
        XCTAssertEqual(try statements("a \"${x}\";"), ["1: a|${x} ;"])
    }

    func testMultiLineQuotedStringCountsLines() throws {
        XCTAssertEqual(try statements("a \"x\ny\";\nb;"), ["2: a|x\ny ;", "3: b ;"])
    }

    func testErrors() {
        XCTAssertEqual(lexError("a b }"), "unexpected \"}\" in /t.conf:1")
        XCTAssertEqual(lexError(";"), "unexpected \";\" in /t.conf:1")
        XCTAssertEqual(lexError("\n{"), "unexpected \"{\" in /t.conf:2")
        XCTAssertEqual(lexError("a \"b\"c;"), "unexpected \"c\" in /t.conf:1")
        XCTAssertEqual(lexError("a b\n"), "unexpected end of file, expecting \";\" or \"}\" in /t.conf:2")
        XCTAssertEqual(lexError("a \"b;\n\n"), "unexpected end of file, expecting \";\" or \"}\" in /t.conf:3")
        XCTAssertEqual(lexError("a b", source: .commandLine), "unexpected end of parameter, expecting \";\" in command line")
    }
}
