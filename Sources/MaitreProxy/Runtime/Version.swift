/// The version `maitred -v` prints.
public enum MaitreVersion {
    public static let string = "0.1.0"
    public static let banner = "maitred version: maitre/\(string)"
    #if compiler(>=6.3)
    public static let swiftVersion = "6.3"
    #else
    public static let swiftVersion = "6"
    #endif
}
