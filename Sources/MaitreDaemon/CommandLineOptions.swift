import MaitreConfig

/// `maitred`'s options, read exactly as nginx reads its own (ngx_get_options): single-letter flags that may
/// be grouped (`-tq`), and `-c -p -g -e -s` taking the rest of the argument or the next one.
public struct CommandLineOptions: Equatable, Sendable {
    public enum Signal: String, Sendable, CaseIterable {
        case stop, quit, reopen, reload
        /// maitred's: `-s drain UPSTREAM/SERVER [--wait TIME]` and `-s up UPSTREAM/SERVER` (through the API).
        case drain, up
    }

    public var showHelp = false
    public var showVersion = false
    public var showConfigure = false
    public var testConfig = false
    public var dumpConfig = false
    public var quiet = false
    public var prefix: String?
    public var configFile: String?
    public var errorLog: String?
    public var globalDirectives: String?
    public var signal: Signal?
    /// `-s drain|up UPSTREAM/SERVER`: the peer.
    public var peerTarget: String?
    /// `--wait TIME` after `-s drain`: milliseconds.
    public var drainWaitMilliseconds: Int64?
    /// `--demo`: run the built-in demo (maitred's own; nginx has no such option).
    public var demo = false

    public init() {}

    public static func parse(_ arguments: [String]) throws(CommandLineError) -> CommandLineOptions {
        var options = CommandLineOptions()
        var index = 0
        func value(after rest: Substring, _ what: String, flag: Character) throws(CommandLineError) -> String {
            if !rest.isEmpty { return String(rest) }
            index += 1
            guard index < arguments.count else {
                throw CommandLineError(message: "option \"-\(flag)\" requires \(what)")
            }
            return arguments[index]
        }
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--demo" {
                options.demo = true
                index += 1
                continue
            }
            if argument == "--wait" {
                guard options.signal == .drain, index + 1 < arguments.count,
                    let wait = TimeSpan.parse(arguments[index + 1])
                else {
                    throw CommandLineError(message: "\"--wait TIME\" goes after \"-s drain UPSTREAM/SERVER\"")
                }
                options.drainWaitMilliseconds = wait.milliseconds
                index += 2
                continue
            }
            guard argument.hasPrefix("-"), argument.count > 1 else {
                throw CommandLineError(message: "invalid option: \"\(argument)\"")
            }
            var rest = argument.dropFirst()
            flags: while let flag = rest.first {
                rest = rest.dropFirst()
                switch flag {
                case "?", "h": options.showHelp = true
                case "v": options.showVersion = true
                case "V":
                    options.showVersion = true
                    options.showConfigure = true
                case "t": options.testConfig = true
                case "T":
                    options.testConfig = true
                    options.dumpConfig = true
                case "q": options.quiet = true
                case "p":
                    options.prefix = try value(after: rest, "directory name", flag: flag)
                    break flags
                case "c":
                    options.configFile = try value(after: rest, "file name", flag: flag)
                    break flags
                case "e":
                    options.errorLog = try value(after: rest, "file name", flag: flag)
                    break flags
                case "g":
                    options.globalDirectives = try value(after: rest, "parameter", flag: flag)
                    break flags
                case "s":
                    let name = try value(after: rest, "parameter", flag: flag)
                    guard let signal = Signal(rawValue: name) else {
                        throw CommandLineError(message: "invalid option: \"-s \(name)\"")
                    }
                    options.signal = signal
                    if signal == .drain || signal == .up {
                        index += 1
                        guard index < arguments.count, !arguments[index].hasPrefix("-") else {
                            throw CommandLineError(message: "option \"-s \(name)\" requires UPSTREAM/SERVER")
                        }
                        options.peerTarget = arguments[index]
                    }
                    break flags
                default:
                    throw CommandLineError(message: "invalid option: \"\(flag)\"")
                }
            }
            index += 1
        }
        return options
    }

    public static let usage = """
        Usage: maitred [-?hvVtTq] [-s signal] [-p prefix]
                       [-e filename] [-c filename] [-g directives]
               maitred --demo

        Options:
          -?,-h         : this help
          -v            : show version and exit
          -V            : show version and configure options then exit
          -t            : test configuration and exit
          -T            : test configuration, dump it and exit
          -q            : suppress non-error messages during configuration testing
          -s signal     : send signal to the running maitred: stop, quit, reopen, reload
          -s drain UPSTREAM/SERVER [--wait TIME]
                        : drain a peer through the API (api write=on); --wait: until it is idle
          -s up UPSTREAM/SERVER
                        : give a drained or downed peer requests again
          -p prefix     : set prefix path (default: the current directory)
          -e filename   : set error log file (default: logs/error.log)
          -c filename   : set configuration file (default: conf/maitre.conf)
          -g directives : set global directives out of configuration file
          --demo        : run the balancer in front of three built-in demo backends

        """
}

public struct CommandLineError: Error, Equatable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
