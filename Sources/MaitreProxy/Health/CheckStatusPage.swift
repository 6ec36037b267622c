import MaitreWire
import MaitreConfig

/// The upstream check module's status page (ngx_http_upstream_check_status_handler and its html, csv and json
/// formats), from the registry's verdicts. Pure: rows in, body out.
enum CheckStatusPage {
    /// One checked server, as the page lists it.
    struct Row: Sendable, Equatable {
        /// Its place among every checked server of the configuration, in configuration order (kept when the
        /// `status=` filter hides others, as the module's).
        let index: Int
        let upstream: String
        /// The address probed, `ip:port`.
        let name: String
        let isDown: Bool
        let riseCount: Int
        let fallCount: Int
        let type: String
        /// `port=` as configured, 0 when the server's own port is probed.
        let port: Int
    }

    enum Filter: Equatable {
        case all, up, down

        func keeps(_ row: Row) -> Bool {
            switch self {
            case .all: return true
            case .up: return !row.isDown
            case .down: return row.isDown
            }
        }
    }

    /// `?format=html|csv|json` (the value as written) and `?status=up|down` (any case) from the query string; names
    /// in any case, the first occurrence decides, and an unknown value in it leaves the default, as the module's
    /// ngx_http_arg lookup does.
    static func options(query: String?, default format: CheckStatusFormat) -> (CheckStatusFormat, Filter) {
        var formatValue: Substring?
        var statusValue: Substring?
        for pair in (query ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            switch parts[0].lowercased() {
            case "format" where formatValue == nil: formatValue = parts[1]
            case "status" where statusValue == nil: statusValue = parts[1]
            default: break
            }
        }
        let filter: Filter
        switch statusValue?.lowercased() {
        case "up": filter = .up
        case "down": filter = .down
        default: filter = .all
        }
        return (formatValue.flatMap { CheckStatusFormat(rawValue: String($0)) } ?? format, filter)
    }

    static func contentType(_ format: CheckStatusFormat) -> String {
        switch format {
        case .html: return "text/html"
        case .csv: return "text/plain"
        case .json: return "application/json"
        }
    }

    static func body(_ rows: [Row], format: CheckStatusFormat, filter: Filter, generation: Int) -> String {
        let shown = rows.filter(filter.keeps)
        switch format {
        case .html: return html(shown, generation: generation)
        case .csv: return shown.map(csvLine).joined()
        case .json: return json(shown, generation: generation)
        }
    }

    private static func html(_ rows: [Row], generation: Int) -> String {
        var out = """
            <!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN"
            "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
            <html xmlns="http://www.w3.org/1999/xhtml">
            <head>
              <title>Nginx http upstream check status</title>
            </head>
            <body>
            <h1>Nginx http upstream check status</h1>
            <h2>Check upstream server number: \(rows.count), generation: \(generation)</h2>
            <table style="background-color:white" cellspacing="0" cellpadding="3" border="1">
              <tr bgcolor="#C0C0C0">
                <th>Index</th>
                <th>Upstream</th>
                <th>Name</th>
                <th>Status</th>
                <th>Rise counts</th>
                <th>Fall counts</th>
                <th>Check type</th>
                <th>Check port</th>
              </tr>

            """
        for row in rows {
            out += "  <tr\(row.isDown ? " bgcolor=\"#FF0000\"" : "")>\n"
            for cell in [String(row.index), escapeHTML(row.upstream), escapeHTML(row.name),
                         row.isDown ? "down" : "up", String(row.riseCount), String(row.fallCount), row.type,
                         String(row.port)] {
                out += "    <td>\(cell)</td>\n"
            }
            out += "  </tr>\n"
        }
        out += "</table>\n</body>\n</html>\n"
        return out
    }

    private static func csvLine(_ row: Row) -> String {
        "\(row.index),\(row.upstream),\(row.name),\(row.isDown ? "down" : "up"),\(row.riseCount),"
            + "\(row.fallCount),\(row.type),\(row.port)\n"
    }

    /// The module's layout, with its trailing-comma bug left out and strings escaped.
    private static func json(_ rows: [Row], generation: Int) -> String {
        var out = "{\"servers\": {\n  \"total\": \(rows.count),\n  \"generation\": \(generation),\n  \"server\": [\n"
        for (position, row) in rows.enumerated() {
            out += "    {\"index\": \(row.index), \"upstream\": \"\(escapeJSON(row.upstream))\", "
                + "\"name\": \"\(escapeJSON(row.name))\", \"status\": \"\(row.isDown ? "down" : "up")\", "
                + "\"rise\": \(row.riseCount), \"fall\": \(row.fallCount), \"type\": \"\(row.type)\", "
                + "\"port\": \(row.port)}"
            out += position == rows.count - 1 ? "\n" : ",\n"
        }
        out += "  ]\n}}\n"
        return out
    }

    private static func escapeHTML(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }

    /// A JSON string's content (the quotes are the caller's).
    private static func escapeJSON(_ text: String) -> String {
        String(JSONText.quoted(text).dropFirst().dropLast())
    }
}
