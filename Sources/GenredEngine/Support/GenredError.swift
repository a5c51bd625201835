/// An error a person reads: what it is about (a file, a folder, the database, a setting, a
/// taxonomy), why, and the exit status a command ends with. `genred`'s `main` prints it once,
/// as `genred: ` and its description, and exits with that status.
public protocol GenredError: Error, Sendable, CustomStringConvertible {
    /// What failed: a path, a database, a setting or a name.
    var subject: String { get }
    /// Why, in words.
    var reasonText: String { get }
    /// 2 (the command could not do its work) unless a type says otherwise.
    var exitStatus: Int32 { get }
}

extension GenredError {
    public var exitStatus: Int32 { 2 }
}

extension DecodeError: GenredError {
    public var subject: String { path }
}


extension BundleError: GenredError {
    public var subject: String { bundle }
    public var reasonText: String { description }
}


extension MusicnnNetwork.ShapeError: GenredError {
    public var subject: String { "model bundle" }
    public var reasonText: String { description }
}
