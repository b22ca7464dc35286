#!/usr/bin/env python3
"""CPU time of the stack's processes over a window, from /proc (Linux).

    cpu.py SECONDS GATEWAY_PID [LOG [MARK]]     (GATEWAY_PID 0: no gateway)

Waits until the file LOG holds the text MARK (default "running"; the load
generator prints it when its timed phase starts), waits one more second,
then measures SECONDS and prints one JSON object: the CPU seconds that the
gateway, PostgreSQL (every postgres process), Redis (every redis-server)
and the load generator used in the window, the rest of the machine, and
the window's length and core count. loadtest/bench.sh divides them by the
payments of the same window.
"""
import json, os, sys, time

def ticks():
    out = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open(f'/proc/{pid}/stat') as f:
                s = f.read()
        except OSError:
            continue
        name = s[s.index('(') + 1:s.rindex(')')]
        fields = s[s.rindex(')') + 2:].split()
        out[int(pid)] = (name, int(fields[11]) + int(fields[12]))
    return out

def group(pid, name, gateway):
    if pid == gateway:
        return 'gateway'
    if name.startswith('postgres'):
        return 'postgres'
    if name.startswith('redis-server'):
        return 'redis'
    if name in ('loadtest', 'pgbench'):
        return name
    return 'other'

def main():
    seconds, gateway = float(sys.argv[1]), int(sys.argv[2])
    if len(sys.argv) > 3:
        mark = sys.argv[4] if len(sys.argv) > 4 else 'running'
        while True:
            try:
                with open(sys.argv[3]) as f:
                    if mark in f.read():
                        break
            except OSError:
                pass
            time.sleep(0.1)
        time.sleep(1)
    a, t0 = ticks(), time.monotonic()
    time.sleep(seconds)
    b, t1 = ticks(), time.monotonic()
    hz = os.sysconf('SC_CLK_TCK')
    used = {'gateway': 0.0, 'postgres': 0.0, 'redis': 0.0, 'loadtest': 0.0, 'pgbench': 0.0, 'other': 0.0}
    for pid, (name, t) in b.items():
        before = a.get(pid)
        start = before[1] if before and before[0] == name else 0
        used[group(pid, name, gateway)] += (t - start) / hz
    used['window_s'] = round(t1 - t0, 3)
    used['cores'] = os.cpu_count()
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in used.items()}))

if __name__ == '__main__':
    main()
