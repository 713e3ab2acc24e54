// The tools a source build needs besides a compiler: cmake-js (drives CMake) and
// node-addon-api (C++ headers). They are devDependencies: a development checkout has them,
// and an install that uses a prebuild never downloads them. A source build from the registry
// fetches them once into .build-tools/ (the versions package.json pins).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';

const TOOLS = ['cmake-js', 'node-addon-api'];

/** node_modules folders to resolve the tools from: the package's own, then .build-tools/. */
export function buildToolDirs(root) {
  return [join(root, 'node_modules'), join(root, '.build-tools', 'node_modules')];
}

/** Resolves `name/sub` from the build tool folders (or the normal lookup); undefined if absent. */
export function resolveBuildTool(root, request) {
  const require = createRequire(join(root, 'package.json'));
  try {
    return require.resolve(request, { paths: [root, join(root, '.build-tools')] });
  } catch {
    return undefined;
  }
}

/** NODE_PATH for child processes (CMake runs `node -p "require('node-addon-api')…"`). */
export function buildToolsNodePath(root, env = process.env) {
  return [...buildToolDirs(root).filter((dir) => existsSync(dir)), env.NODE_PATH].filter(Boolean).join(delimiter);
}

/** Installs the missing tools into .build-tools/ with npm; exits the process on failure. */
export function ensureBuildTools(root, say) {
  const missing = TOOLS.filter((name) => resolveBuildTool(root, `${name}/package.json`) === undefined);
  if (missing.length === 0) return;
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const specs = missing.map((name) => `${name}@${pkg.devDependencies[name]}`);
  say(`fetching the build tools: ${specs.join(' ')}`);
  const npmCli = process.env.npm_execpath;
  const [command, prefixArgs] = npmCli && npmCli.endsWith('.js') ? [process.execPath, [npmCli]] : ['npm', []];
  const result = spawnSync(
    command,
    [...prefixArgs, 'install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--ignore-scripts', '--prefix', join(root, '.build-tools'), ...specs],
    { stdio: ['ignore', 'inherit', 'inherit'], shell: process.platform === 'win32' && command === 'npm' },
  );
  if (result.status !== 0) {
    say(`could not install ${specs.join(' ')} (npm exited with ${result.status ?? result.error?.message})`);
    process.exit(result.status ?? 1);
  }
}
