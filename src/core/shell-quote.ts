/**
 * POSIX shell quoting. Written here rather than taken from a package because it is four lines
 * that can be audited at a glance, and the popular package's quote() has shipped injection bugs
 * (CVE-2021-42740). Everything that is not plainly safe is single-quoted; a single quote inside
 * becomes '\'' . The result is one shell word whatever the input (newlines, $(), backticks, globs).
 */
const plainlySafe = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function quoteShellWord(value: string): string {
  if (plainlySafe.test(value)) return value;
  return "'" + value.replace(/'/g, `'\\''`) + "'";
}
