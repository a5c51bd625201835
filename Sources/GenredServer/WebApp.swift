/// The web app at /: one page, its script and style inline, nothing fetched from elsewhere.
enum WebApp {
    static let contentSecurityPolicy = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; media-src 'self' blob:"
    static let html = #"""
<!doctype html><title>genred</title>
"""#
}
