/// genred's version, shown by `genred --version` and recorded by the daemon for `genred status`.
public let genredVersion = "0.3.0"
