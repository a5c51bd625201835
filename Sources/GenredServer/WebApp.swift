/// The web app at /: one page (Web/index.html, embedded at build time by the EmbedWebPage
/// plugin as `WebApp.html`) with its script and style inline; everything it shows comes from
/// the API of the same server, and it loads nothing from anywhere else.
///
/// The map is drawn on one canvas (no element per track), bucketed by colour, with a grid over
/// the map's coordinates for hit-testing, so a 50,000-track library pans and zooms smoothly.
/// Library text is only ever set as `textContent`, never parsed as HTML.
enum WebApp {
    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; media-src 'self' blob:"
}
