/// Numbers, sizes and times as nginx parses them (ngx_atoi, ngx_parse_size, ngx_parse_offset, ngx_parse_time).
enum Units {
    /// ngx_atoi: one or more ASCII digits, no sign, no overflow.
    static func integer(_ text: String) -> Int? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return value
    }

    /// ngx_parse_size: a number with an optional `k`/`K` or `m`/`M` suffix.
    static func size(_ text: String) -> Int? {
        scaled(text, units: ["k": 1024, "K": 1024, "m": 1024 * 1024, "M": 1024 * 1024])
    }

    /// ngx_parse_offset: like `size`, plus `g`/`G` (client_max_body_size is an offset in nginx).
    static func offset(_ text: String) -> Int? {
        scaled(text, units: [
            "k": 1024, "K": 1024, "m": 1024 * 1024, "M": 1024 * 1024, "g": 1024 * 1024 * 1024, "G": 1024 * 1024 * 1024,
        ])
    }

    private static func scaled(_ text: String, units: [Character: Int]) -> Int? {
        guard let last = text.last else { return nil }
        var digits = Substring(text)
        var scale = 1
        if let unit = units[last] {
            scale = unit
            digits = digits.dropLast()
        }
        guard let number = integer(String(digits)) else { return nil }
        let (result, overflow) = number.multipliedReportingOverflow(by: scale)
        return overflow ? nil : result
    }

    /// ngx_parse_time in milliseconds (`is_sec` 0): units `w d h m s ms`, combined largest first (`1m30s`);
    /// a bare number means seconds. `y` and `M` are refused, as nginx refuses them for millisecond values.
    static func milliseconds(_ text: String) -> TimeSpan? {
        parseTime(text, inSeconds: false).map { TimeSpan(milliseconds: $0) }
    }

    /// ngx_parse_time in seconds (`is_sec` 1): units `y M w d h m s`, no `ms`.
    static func seconds(_ text: String) -> TimeSpan? {
        parseTime(text, inSeconds: true).map { TimeSpan(milliseconds: $0 * 1000) }
    }

    private enum Step: Int { case start, year, month, week, day, hour, min, sec, msec, last }

    /// A direct port of ngx_parse_time, including its acceptance of spaces between parts.
    private static func parseTime(_ text: String, inSeconds: Bool) -> Int64? {
        let bytes = Array(text.utf8)
        let maxValue = Int64.max
        var valid = false
        var value: Int64 = 0
        var total: Int64 = 0
        var step: Step = inSeconds ? .start : .month
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
                if o1 || o2 { return nil }
                value = sum
                index += 1
                valid = true
                continue
            }
            index += 1
            var scale: Int64
            switch byte {
            case UInt8(ascii: "y"):
                if step.rawValue > Step.start.rawValue { return nil }
                step = .year
                scale = 60 * 60 * 24 * 365
            case UInt8(ascii: "M"):
                if step.rawValue >= Step.month.rawValue { return nil }
                step = .month
                scale = 60 * 60 * 24 * 30
            case UInt8(ascii: "w"):
                if step.rawValue >= Step.week.rawValue { return nil }
                step = .week
                scale = 60 * 60 * 24 * 7
            case UInt8(ascii: "d"):
                if step.rawValue >= Step.day.rawValue { return nil }
                step = .day
                scale = 60 * 60 * 24
            case UInt8(ascii: "h"):
                if step.rawValue >= Step.hour.rawValue { return nil }
                step = .hour
                scale = 60 * 60
            case UInt8(ascii: "m"):
                if index < bytes.count, bytes[index] == UInt8(ascii: "s") {
                    if inSeconds || step.rawValue >= Step.msec.rawValue { return nil }
                    index += 1
                    step = .msec
                    scale = 1
                } else {
                    if step.rawValue >= Step.min.rawValue { return nil }
                    step = .min
                    scale = 60
                }
            case UInt8(ascii: "s"):
                if step.rawValue >= Step.sec.rawValue { return nil }
                step = .sec
                scale = 1
            case UInt8(ascii: " "):
                if step.rawValue >= Step.sec.rawValue { return nil }
                step = .last
                scale = 1
            default:
                return nil
            }
            if step != .msec && !inSeconds { scale *= 1000 }
            let (scaledValue, overflow) = value.multipliedReportingOverflow(by: scale)
            if overflow { return nil }
            if total > maxValue - scaledValue { return nil }
            total += scaledValue
            value = 0
            while index < bytes.count, bytes[index] == UInt8(ascii: " ") { index += 1 }
        }
        guard valid else { return nil }
        if !inSeconds {
            let (ms, overflow) = value.multipliedReportingOverflow(by: 1000)
            if overflow { return nil }
            value = ms
        }
        if total > maxValue - value { return nil }
        return total + value
    }
}
