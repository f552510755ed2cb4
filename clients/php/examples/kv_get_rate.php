<?php

declare(strict_types=1);

/*
 * KV get requests per second from one PHP process over one connection: the
 * rate a single PHP-FPM child could reach if it did nothing else.
 *
 *   php clients/php/examples/kv_get_rate.php [HOST] [PORT] [SECONDS] [VALUE_BYTES]
 *
 * Defaults: 127.0.0.1 7700 5 100. Against a running solar serving builtin:kv:
 * puts one key (bench:php:key, VALUE_BYTES long), then gets it in a loop for
 * SECONDS after a 0.2 s warm-up, one request at a time (no pipelining),
 * checking every value; prints gets/s and the mean and p99 latency. Exit code 1
 * on any error, or if the connection had to be replaced during the run.
 */

require __DIR__ . '/../autoload.php';

use Solar\Client\Connection;
use Solar\Client\KvClient;
use Solar\Client\SolarException;

if (in_array($argv[1] ?? '', ['-h', '--help'], true)) {
    fwrite(STDOUT, "usage: php kv_get_rate.php [HOST] [PORT] [SECONDS] [VALUE_BYTES]  (defaults: 127.0.0.1 7700 5 100)\n");
    exit(0);
}
$host = $argv[1] ?? '127.0.0.1';
$port = $argv[2] ?? '7700';
$seconds = $argv[3] ?? '5';
$valueBytes = $argv[4] ?? '100';
if (!ctype_digit($port) || !is_numeric($seconds) || (float) $seconds <= 0 || !ctype_digit($valueBytes)) {
    fwrite(STDERR, "kv_get_rate: PORT and VALUE_BYTES are integers, SECONDS a number above 0 (--help)\n");
    exit(2);
}
$address = (str_contains($host, ':') ? "[$host]" : $host) . ':' . $port;
$value = str_repeat('v', (int) $valueBytes);
$key = 'bench:php:key';

try {
    $conn = new Connection($address, connectTimeout: 1.0, timeout: 2.0);
    $kv = new KvClient($conn);
    $kv->put($key, $value);

    $warmEnd = hrtime(true) + 200_000_000;
    while (hrtime(true) < $warmEnd) {
        $kv->get($key);
    }

    $latencies = [];
    $start = hrtime(true);
    $end = $start + (int) ((float) $seconds * 1e9);
    $n = 0;
    do {
        $t0 = hrtime(true);
        if ($kv->get($key) !== $value) {
            fwrite(STDERR, "kv_get_rate: wrong value after $n gets\n");
            exit(1);
        }
        $t1 = hrtime(true);
        $latencies[] = $t1 - $t0;
        ++$n;
    } while ($t1 < $end);
} catch (SolarException $e) {
    fwrite(STDERR, 'kv_get_rate: ' . get_class($e) . ': ' . $e->getMessage() . "\n");
    exit(1);
}

$elapsed = ($t1 - $start) / 1e9;
sort($latencies);
printf("%d gets in %.2f s over one connection to %s: %.0f gets/s, mean %.1f us, p99 %.1f us (PHP %s, protobuf %s)\n",
    $n, $elapsed, $address, $n / $elapsed, array_sum($latencies) / $n / 1e3, $latencies[min($n - 1, (int) ($n * 0.99))] / 1e3,
    PHP_VERSION, extension_loaded('protobuf') ? 'C extension' : 'pure PHP runtime');
if ($conn->reconnectCount() !== 0) {
    fwrite(STDERR, "kv_get_rate: the connection was replaced {$conn->reconnectCount()} time(s) during the run\n");
    exit(1);
}
