#!/usr/bin/env python3
"""Runs one command and reports its wall time and peak resident memory, as JSON on stdout.

Usage: measure.py [--cwd DIR] [--stdout FILE] -- COMMAND ARGS...
The clock starts just before fork and stops when wait4() returns, so the start-up of this
helper is not counted. ru_maxrss from wait4() is the largest resident set of the process and
of the descendants it waited for (KiB on Linux). The command's environment is this helper's.
"""
import json
import os
import subprocess
import sys
import time


def main() -> None:
    args = sys.argv[1:]
    cwd = None
    out_path = os.devnull
    while args and args[0] != '--':
        if args[0] == '--cwd':
            cwd = args[1]
            args = args[2:]
        elif args[0] == '--stdout':
            out_path = args[1]
            args = args[2:]
        else:
            sys.exit(f'measure.py: unknown option {args[0]}')
    cmd = args[1:]
    err_path = out_path + '.err' if out_path != os.devnull else os.devnull
    with open(out_path, 'wb') as out, open(err_path, 'wb') as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, rusage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    print(json.dumps({
        'wall_s': wall,
        'maxrss_kb': rusage.ru_maxrss,
        'user_s': rusage.ru_utime,
        'sys_s': rusage.ru_stime,
        'rc': proc.returncode,
    }))


main()
