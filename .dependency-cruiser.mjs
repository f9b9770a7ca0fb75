/**
 * The layering of src/ (docs/architecture.md), checked by `npm run lint` (so by .ci/run and by
 * every landing). A folder imports only the folders below it in `layers`, never one above: the
 * dependencies between folders go one way, so they cannot form a cycle. Type-only imports count.
 */

/** Bottom to top. */
const layers = ['core', 'inventory', 'targets', 'steps', 'runbook', 'planner', 'engine', 'journal', 'ui', 'commands'];

/** Libraries that reach a machine: only the connections in src/targets/ use them. */
const connectionLibraries = ['pg', 'pgpass', 'ssh2', 'ssh-config', 'execa'];

/** Step kinds (one file each, listed in src/steps/registry.ts): what two kinds share lives in a common module. */
const stepKindFiles = ['ssh', 'local', 'sql', 'http', 'manual', 'prompt', 'wait', 'file-edit'];

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const oneOf = (names) => `(${names.map(escape).join('|')})`;

/** @type {import('dependency-cruiser').IForbiddenRuleType[]} */
const rules = [
  ...layers.map((layer, i) => ({
    name: `layer-${layer}`,
    comment: `src/${layer}/ may import only ${layers.slice(0, i).join(', ') || 'itself'} (docs/architecture.md)`,
    severity: 'error',
    from: { path: `^src/${layer}/` },
    to: { path: `^src/(${oneOf(layers.slice(i + 1))}/|cli\\.ts$)` },
  })),
  {
    name: 'no-folder-cycle',
    comment: 'Folders depend on each other one way (also inside a folder, between its subfolders).',
    severity: 'error',
    scope: 'folder',
    from: { path: '^src/' },
    to: { circular: true },
  },
  {
    name: 'no-module-cycle',
    comment: 'Modules depend on each other one way: split out what both sides need.',
    severity: 'error',
    from: { path: '^src/' },
    to: { circular: true },
  },
  {
    name: 'connection-libraries-in-targets',
    comment: `${connectionLibraries.join(', ')} are used through src/targets/ only.`,
    severity: 'error',
    from: { path: '^src/', pathNot: '^src/targets/' },
    to: { path: `(^|/)node_modules/(@types/)?${oneOf(connectionLibraries)}/` },
  },
  {
    name: 'prompts-in-ui',
    comment: '@inquirer/prompts is used through src/ui/ only.',
    severity: 'error',
    from: { path: '^src/', pathNot: '^src/ui/' },
    to: { path: '(^|/)node_modules/@inquirer/' },
  },
  {
    name: 'step-kinds-apart',
    comment: 'One step kind does not import another: what they share goes into a common module of src/steps/.',
    severity: 'error',
    from: { path: `^src/steps/${oneOf(stepKindFiles)}\\.ts$` },
    to: { path: `^src/steps/${oneOf(stepKindFiles)}\\.ts$`, pathNot: '^src/steps/$1\\.ts$' },
  },
  {
    name: 'commands-apart',
    comment: 'A command module does not import another: what they share lives in a module of its own (session.ts, prepare.ts).',
    severity: 'error',
    from: { path: '^src/commands/[^/]+-commands?\\.ts$' },
    to: { path: '^src/commands/[^/]+-commands?\\.ts$' },
  },
];

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: rules,
  options: {
    doNotFollow: { path: '(^|/)node_modules/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
