import Foundation
import PackagePlugin

/// Embeds the target's Web/index.html as `WebApp.html`, regenerated whenever the page changes,
/// so the page is edited as HTML and the binary needs no resource files beside it.
@main
struct EmbedWebPage: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        let page = target.directoryURL.appending(path: "Web/index.html")
        let output = context.pluginWorkDirectoryURL.appending(path: "WebAppPage.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(page.lastPathComponent) in \(target.name)",
                executable: try context.tool(named: "genred-embed").url,
                arguments: [page.path, output.path, "WebApp", "html"],
                inputFiles: [page],
                outputFiles: [output]
            ),
        ]
    }
}
