#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaitreDaemon

exit(Daemon.main(arguments: CommandLine.arguments))
