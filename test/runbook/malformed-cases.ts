/** The expected diagnostic of every file of the malformed-input corpus (shared by the runbook and CLI tests). */

export const RUNBOOKS = 'fixtures/malformed';
export const INVENTORIES = 'fixtures/malformed-inventories';
export const EXAMPLE = 'fixtures/example/example-maintenance.yaml';
export const VACUUM = `${INVENTORIES}/runbooks/vacuum-tables.yaml`;

export interface Expected {
  file: string;
  line: number;
  column: number;
  path: string;
  /** Every fragment must appear in the message. */
  says: string[];
  /** Number of error diagnostics (default 1). */
  errors?: number;
}

export const runbookCases: Expected[] = [
  { file: 'yaml-tab-indentation.yaml', line: 10, column: 1, path: '', says: ['YAML syntax', 'Tabs are not allowed as indentation'] },
  { file: 'yaml-unclosed-quote.yaml', line: 7, column: 12, path: '', says: ['YAML syntax', 'quoted string is never closed'] },
  { file: 'yaml-duplicate-key.yaml', line: 11, column: 5, path: '', says: ['YAML syntax', 'key "command" appears twice'] },
  { file: 'top-level-list.yaml', line: 1, column: 1, path: '', says: ['expected a YAML mapping', 'found a list'] },
  { file: 'top-level-scalar.yaml', line: 1, column: 1, path: '', says: ['expected a YAML mapping', 'found string "rotate-logs"'] },
  { file: 'missing-id.yaml', line: 1, column: 1, path: 'id', says: ['required field is missing', 'expected a string'] },
  { file: 'missing-title.yaml', line: 1, column: 1, path: 'title', says: ['required field is missing', 'expected a string'] },
  { file: 'missing-steps.yaml', line: 1, column: 1, path: 'steps', says: ['required field is missing', 'expected a list'] },
  { file: 'empty-steps.yaml', line: 5, column: 8, path: 'steps', says: ['expected at least 1 item', 'found an empty list'] },
  { file: 'step-missing-id.yaml', line: 12, column: 5, path: 'steps[1].id', says: ['required field is missing', 'expected a string'] },
  {
    file: 'ssh-missing-command.yaml',
    line: 6,
    column: 5,
    path: 'steps[0].command',
    says: ['required field is missing', 'expected a string'],
  },
  {
    file: 'sql-missing-sql.yaml',
    line: 6,
    column: 5,
    path: 'steps[0].sql',
    says: ['required field is missing', 'expected a string or a list'],
  },
  {
    file: 'retries-count-string.yaml',
    line: 12,
    column: 14,
    path: 'steps[0].retries.count',
    says: ['expected a number', 'found string "three"'],
  },
  { file: 'targets-list-not-mapping.yaml', line: 4, column: 3, path: 'targets', says: ['expected a mapping', 'found a list'] },
  {
    file: 'parameter-type-typo.yaml',
    line: 5,
    column: 11,
    path: 'parameters.keep_days.type',
    says: ['expected one of "string", "integer"', 'found string "int"'],
  },
  // The typo is reported where it is, and the field it replaces as missing.
  { file: 'unknown-field-comand.yaml', line: 10, column: 5, path: 'steps[0].comand', says: ['unknown field "comand"'], errors: 2 },
  {
    file: 'unknown-step-kind.yaml',
    line: 8,
    column: 11,
    path: 'steps[0].kind',
    says: ['unknown step kind "shell"', 'expected one of ssh, sql, local, http, manual, prompt, wait, file-edit'],
  },
  { file: 'duplicate-step-ids.yaml', line: 11, column: 9, path: 'steps[1].id', says: ['duplicate step id "rotate"', 'also at steps[0]'] },
  {
    file: 'undefined-param-reference.yaml',
    line: 14,
    column: 14,
    path: 'steps[0].command',
    says: ['undefined reference "{{ params.nope }}"'],
  },
  {
    file: 'host-in-local-step.yaml',
    line: 10,
    column: 14,
    path: 'steps[0].command',
    says: ['undefined reference "{{ host.address }}"', 'only in steps acting on a target'],
  },
  {
    file: 'template-in-single-quotes.yaml',
    line: 12,
    column: 14,
    path: 'steps[0].command',
    says: ['{{ params.note }} stands inside single quotes', 'remove the quotes'],
  },
  {
    file: 'template-in-double-quotes.yaml',
    line: 12,
    column: 14,
    path: 'steps[0].command',
    says: ['{{ params.note }} stands inside double quotes', 'remove the quotes'],
  },
  {
    file: 'unclosed-placeholder.yaml',
    line: 12,
    column: 14,
    path: 'steps[0].command',
    says: ['unclosed "{{"', 'placeholders look like {{ params.name }}'],
  },
  {
    file: 'unknown-filter.yaml',
    line: 12,
    column: 14,
    path: 'steps[0].command',
    says: ['unknown filter "upper"', 'the only filter is "raw"'],
  },
  { file: 'unknown-target-role.yaml', line: 9, column: 13, path: 'steps[0].target', says: ['unknown target role "web"', 'declares app'] },
  {
    file: 'sql-on-hosts-role.yaml',
    line: 10,
    column: 13,
    path: 'steps[0].target',
    says: ['role "app" is a hosts role', 'needs a database role'],
  },
  { file: 'ssh-step-without-target.yaml', line: 6, column: 5, path: 'steps[0]', says: ['needs a "target" role'] },
  {
    file: 'bad-enum-default.yaml',
    line: 7,
    column: 14,
    path: 'parameters.mode.default',
    says: ['"parallel" is not one of rolling, all-at-once'],
  },
  {
    file: 'integer-default-out-of-range.yaml',
    line: 8,
    column: 14,
    path: 'parameters.keep_days.default',
    says: ['400 is above the maximum 365'],
  },
  {
    file: 'secret-with-default.yaml',
    line: 7,
    column: 14,
    path: 'parameters.admin_password.default',
    says: ['a secret parameter cannot have a default', '"env"'],
  },
  {
    file: 'invalid-regex-expect.yaml',
    line: 13,
    column: 26,
    path: 'steps[0].expect.stdout.matches',
    says: ['invalid regular expression', 'Unterminated group'],
  },
  {
    file: 'detached-check.yaml',
    line: 14,
    column: 17,
    path: 'steps[0].verify.detached',
    says: ['a check cannot be detached', 'only steps run detached'],
  },
  {
    file: 'detached-with-stdin.yaml',
    line: 12,
    column: 12,
    path: 'steps[0].stdin',
    says: ['a detached step takes no stdin', 'pty answers'],
  },
  {
    file: 'invalid-duration.yaml',
    line: 11,
    column: 14,
    path: 'steps[0].timeout',
    says: ['expected a duration such as "500ms"', 'found string "5 minutes"'],
  },
  {
    file: 'rollback-undefined-step.yaml',
    line: 12,
    column: 18,
    path: 'steps[0].onFailure.rollback[0]',
    says: ['rollback step "restore-config" is not defined in the "rollback" section'],
  },
  {
    file: 'when-unknown-parameter.yaml',
    line: 12,
    column: 11,
    path: 'steps[0].when',
    says: ['condition on unknown parameter "compression"'],
  },
  {
    file: 'when-later-step.yaml',
    line: 10,
    column: 11,
    path: 'steps[0].when',
    says: ['condition on step "confirm-compress"', 'not an earlier step'],
  },
  {
    file: 'destructive-confirm-yes.yaml',
    line: 11,
    column: 14,
    path: 'steps[0].confirm',
    says: ['a destructive step needs a typed confirmation'],
  },
  {
    file: 'invalid-step-id.yaml',
    line: 6,
    column: 9,
    path: 'steps[0].id',
    says: ['expected lower-case letters, digits, "-" or "_"', 'found string "Rotate Logs"'],
  },
  {
    file: 'invalid-runbook-id.yaml',
    line: 1,
    column: 5,
    path: 'id',
    says: ['expected lower-case letters, digits, "-" or "_"', 'found string "Rotate_Logs!"'],
  },
  {
    file: 'sql-placeholder-in-quotes.yaml',
    line: 12,
    column: 10,
    path: 'steps[0].sql',
    says: ['{{ params.tenant }} stands inside SQL quotes', 'bind parameter'],
  },
];

export interface InventoryExpected extends Expected {
  runbook?: string;
}

export const inventoryCases: InventoryExpected[] = [
  { file: 'tab-indentation.yaml', line: 5, column: 1, path: '', says: ['YAML syntax', 'Tabs are not allowed as indentation'] },
  { file: 'hosts-as-list.yaml', line: 3, column: 3, path: 'hosts', says: ['expected a mapping', 'found a list'] },
  {
    file: 'role-names-undefined-entry.yaml',
    line: 10,
    column: 15,
    path: 'roles.app[1]',
    says: ['role "app" names "app3"', 'not a host, database or endpoint'],
  },
  {
    file: 'literal-password.yaml',
    line: 10,
    column: 15,
    path: 'databases.appdb.password',
    says: ['expected {env: NAME} or {prompt: true}', 'found a literal string'],
  },
  { file: 'port-as-string.yaml', line: 7, column: 11, path: 'hosts.app2.port', says: ['expected a number', 'found string "twenty-two"'] },
  { file: 'port-out-of-range.yaml', line: 6, column: 36, path: 'databases.appdb.port', says: ['<=65535', 'found number 654321'] },
  {
    file: 'duplicate-name-across-sections.yaml',
    line: 9,
    column: 8,
    path: 'endpoints.api',
    says: ['name "api" is also used in hosts', 'must be unique'],
  },
  { file: 'unknown-host-field.yaml', line: 5, column: 5, path: 'hosts.app2.adress', says: ['unknown field "adress"'] },
  {
    file: 'leading-dash-user.yaml',
    line: 4,
    column: 38,
    path: 'hosts.app2.user',
    says: ['must not start with "-"', 'as an option'],
  },
  {
    file: 'leading-dash-database.yaml',
    line: 8,
    column: 15,
    path: 'databases.appdb.database',
    says: ['must not start with "-"'],
  },
  {
    file: 'endpoint-url-invalid.yaml',
    line: 8,
    column: 15,
    path: 'endpoints.api.url',
    says: ['Invalid URL', 'found string "app.example.com/health"'],
  },
  {
    file: 'missing-role-binding.yaml',
    line: 10,
    column: 3,
    path: 'roles',
    says: ['the runbook needs role "appdb" (database', 'does not bind it under "roles"'],
  },
  {
    file: 'wrong-role-entry-type.yaml',
    line: 11,
    column: 10,
    path: 'roles.appdb',
    says: ['role "appdb" needs database entries', '"app1" is hosts'],
  },
  {
    file: 'role-too-many-entries.yaml',
    runbook: VACUUM,
    line: 9,
    column: 12,
    path: 'roles.dbhosts',
    says: ['role "dbhosts" takes 1 to 2 entries', 'found 3'],
  },
  {
    file: 'enum-value-not-allowed.yaml',
    line: 15,
    column: 17,
    path: 'parameters.restart_mode',
    says: ['"sometimes" is not one of rolling, all-at-once'],
  },
  {
    file: 'pattern-mismatch.yaml',
    line: 14,
    column: 12,
    path: 'parameters.release',
    says: ['"latest" does not match /[0-9]+\\.[0-9]+\\.[0-9]+/'],
  },
  {
    file: 'integer-out-of-range.yaml',
    runbook: VACUUM,
    line: 10,
    column: 18,
    path: 'parameters.parallel_jobs',
    says: ['64 is above the maximum 8'],
  },
];
