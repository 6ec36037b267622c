#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

extension RequestRecord {
    /// The first value `name` matches, nil when there is none (no array made for the usual absent header).
    /// `lines`, when given, is the log line's index of this head's lines.
    func firstHeaderValue(named name: String, lines: HeaderLines? = nil) -> String? {
        var first: String?
        forEachHeaderValue(named: name, lines: lines) { value in
            if first == nil { first = String(decoding: value, as: UTF8.self) }
        }
        return first
    }

    /// The values of the header fields `name` matches, read again from the head's bytes (the loop's parse target
    /// may hold another request by the time the access log asks). `name` is as `$http_NAME` writes it:
    /// lowercase, `_` standing for `-` (or `_`). Values are trimmed of surrounding spaces and tabs.
    func headerValues(named name: String, lines: HeaderLines? = nil) -> [String] {
        var values: [String] = []
        forEachHeaderValue(named: name, lines: lines) { values.append(String(decoding: $0, as: UTF8.self)) }
        return values
    }

    /// Appends the values `name` matches, joined by `separator`, each through `write`; false when there is none.
    func appendHeaderValues(
        named name: String, lines: HeaderLines?, separator: StaticString, to out: inout LogBytes,
        _ write: (UnsafeRawBufferPointer, inout LogBytes) -> Void
    ) -> Bool {
        var found = false
        forEachHeaderValue(named: name, lines: lines) { value in
            if found { out.append(separator) }
            found = true
            write(value, &out)
        }
        return found
    }

    /// `$request`: the request line as sent (a refused first line as received), through `write`, from the
    /// offsets the parser found (no second scan of the line).
    func appendRequestLine(to out: inout LogBytes, _ write: (UnsafeRawBufferPointer, inout LogBytes) -> Void) {
        bytes.withUnsafeReadableBytes { raw in
            guard methodStart <= requestLineEnd, requestLineEnd <= raw.count else { return }
            write(UnsafeRawBufferPointer(rebasing: raw[methodStart..<requestLineEnd]), &out)
        }
    }

    /// Calls `body` with each value of the fields `name` matches, read from the head's bytes: from `lines` when
    /// given (the head indexed once for the whole log line), otherwise a line at a time found with memchr;
    /// a line is compared only where the colon sits where the name would end.
    private func forEachHeaderValue(
        named name: String, lines index: HeaderLines?, _ body: (UnsafeRawBufferPointer) -> Void
    ) {
        var wanted = name
        wanted.withUTF8 { wanted in
            bytes.withUnsafeReadableBytes { raw in
                guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self), !wanted.isEmpty else { return }
                if let lines = index?.lines(of: raw) {
                    for line in lines {
                        Self.value(base + line.start, base + line.end, wanted, dropsUnderscoreNames).map(body)
                    }
                    return
                }
                let end = base + raw.count
                // Skip the request line.
                guard let first = memchr(base, 0x0A, raw.count) else { return }
                var line = UnsafePointer(first.assumingMemoryBound(to: UInt8.self)) + 1
                while line < end {
                    let lineEnd = memchr(line, 0x0A, end - line).map { UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) } ?? end
                    var stop = lineEnd
                    if stop > line, stop[-1] == UInt8(ascii: "\r") { stop -= 1 }
                    Self.value(line, stop, wanted, dropsUnderscoreNames).map(body)
                    line = lineEnd + 1
                }
            }
        }
    }

    /// The value of the header line from `line` to `end` (CR LF excluded) when its name is `wanted`, trimmed of
    /// surrounding spaces and tabs. With `dropsUnderscoreNames`, a name holding `_` is a field the parser
    /// dropped (as nginx does): never a match.
    private static func value(
        _ line: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>, _ wanted: UnsafeBufferPointer<UInt8>,
        _ dropsUnderscoreNames: Bool
    ) -> UnsafeRawBufferPointer? {
        guard end - line > wanted.count, line[wanted.count] == UInt8(ascii: ":"),
            matches(line, wanted, dropsUnderscoreNames: dropsUnderscoreNames)
        else {
            return nil
        }
        var start = line + wanted.count + 1
        var stop = end
        while start < stop, start[0] == UInt8(ascii: " ") || start[0] == UInt8(ascii: "\t") { start += 1 }
        while stop > start, stop[-1] == UInt8(ascii: " ") || stop[-1] == UInt8(ascii: "\t") { stop -= 1 }
        return UnsafeRawBufferPointer(start: start, count: stop - start)
    }

    /// Whether the field name at `line` is `wanted` (lowercase, `_` for `-`) in any case; a `_` in the name
    /// never matches when the parser drops such names.
    private static func matches(
        _ line: UnsafePointer<UInt8>, _ wanted: UnsafeBufferPointer<UInt8>, dropsUnderscoreNames: Bool
    ) -> Bool {
        for index in 0..<wanted.count {
            var byte = line[index]
            if byte == UInt8(ascii: "_") && dropsUnderscoreNames { return false }
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { byte += 32 }
            if byte == UInt8(ascii: "-") { byte = UInt8(ascii: "_") }
            if byte != wanted[index] { return false }
        }
        return true
    }
}
