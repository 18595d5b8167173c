// The app imports `api` from the repository's convex/_generated (outside this folder): Metro must
// watch that folder, and resolve its `convex/server` import from this app's node_modules so the app
// bundles one copy of convex.
const path = require("node:path");
const { getDefaultConfig } = require("expo/metro-config");

const config = getDefaultConfig(__dirname);
config.watchFolders = [path.resolve(__dirname, "../../convex")];
config.resolver.nodeModulesPaths = [path.resolve(__dirname, "node_modules")];
config.resolver.disableHierarchicalLookup = true;
module.exports = config;
