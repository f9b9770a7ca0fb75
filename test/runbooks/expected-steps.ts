/**
 * The step order a shipped runbook must keep (its source procedure's), checked by its dry-run test
 * and relied on by its lab test.
 */
export const OPENGAUSS_CM_UPGRADE_STEPS = [
  'check-upgrade-cm-supported',
  'obtain-package',
  'check-os',
  'check-disk-usage',
  'check-database-status',
  'record-cluster-state',
  'check-cluster-user',
  'create-package-dir',
  'upload-package',
  'record-upgrade-start',
  'run-upgrade-cm',
  'check-cluster-state-not-worse',
  'check-cm-backup',
  'check-cm-version',
];
