<?php

declare(strict_types=1);

/*
 * The test runner: php clients/php/tests/run.php [FILTER]
 *
 * Runs every public method whose name starts with "test" in every class
 * tests/*Test.php defines (class name = file name), in file order; FILTER keeps
 * the tests whose "Class::method" contains it. A class may have beforeAll() and
 * afterAll(), run around its tests (they start and stop its server). A test
 * passes when it returns, fails when it throws. Ends with "N passed, N failed";
 * exit code 1 when any failed.
 *
 * Each test, and each beforeAll, is bounded: after TEST_LIMIT_S seconds a
 * SIGALRM handler throws in it (pcntl), so that a hang fails that test and
 * afterAll still stops the servers the class started.
 */

require __DIR__ . '/../autoload.php';
require __DIR__ . '/lib/Assert.php';
require __DIR__ . '/lib/SolarServer.php';
require __DIR__ . '/lib/FakeServer.php';

error_reporting(E_ALL);
ini_set('display_errors', 'stderr');
// A warning or notice inside a test is a failure, not a line scrolling by.
set_error_handler(static function (int $severity, string $message, string $file, int $line): bool {
    if ((error_reporting() & $severity) === 0) {
        return false;  // silenced with @: the library reads it from error_get_last()
    }
    throw new \ErrorException($message, 0, $severity, $file, $line);
});

const TEST_LIMIT_S = 30;

/** Arms the per-test limit ($on) or disarms it. */
$limit = static function (bool $on, string $what = ''): void {
    if (!function_exists('pcntl_alarm')) {
        return;
    }
    if ($on) {
        pcntl_async_signals(true);
        pcntl_signal(SIGALRM, static function () use ($what): void {
            throw new \RuntimeException("$what did not finish within " . TEST_LIMIT_S . ' s');
        });
    }
    pcntl_alarm($on ? TEST_LIMIT_S : 0);
};

$filter = $argv[1] ?? '';
$passed = 0;
$failed = 0;
$started = hrtime(true);

$where = static function (\Throwable $e): string {
    // The innermost frame inside a test file, else where it was thrown.
    foreach ($e->getTrace() as $frame) {
        if (isset($frame['file']) && str_ends_with($frame['file'], 'Test.php')) {
            return basename($frame['file']) . ':' . $frame['line'];
        }
    }
    return basename($e->getFile()) . ':' . $e->getLine();
};

foreach (glob(__DIR__ . '/*Test.php') as $file) {
    require_once $file;
    $class = 'Solar\\Client\\Tests\\' . basename($file, '.php');
    $methods = array_values(array_filter(
        get_class_methods($class),
        static fn (string $m): bool => str_starts_with($m, 'test') && str_contains(basename($file, '.php') . "::$m", $filter),
    ));
    if ($methods === []) {
        continue;
    }
    $case = new $class();
    try {
        if (method_exists($case, 'beforeAll')) {
            $limit(true, basename($file, '.php') . '::beforeAll');
            $case->beforeAll();
            $limit(false);
        }
        foreach ($methods as $method) {
            $name = basename($file, '.php') . "::$method";
            $t0 = hrtime(true);
            try {
                $limit(true, $name);
                try {
                    $case->$method();
                } finally {
                    $limit(false);
                }
                ++$passed;
                printf("ok   %s (%d ms)\n", $name, (hrtime(true) - $t0) / 1e6);
            } catch (\Throwable $e) {
                ++$failed;
                printf("FAIL %s (%d ms)\n     %s: %s\n     at %s\n", $name, (hrtime(true) - $t0) / 1e6,
                    get_class($e), str_replace("\n", "\n     ", $e->getMessage()), $where($e));
            }
        }
    } catch (\Throwable $e) {
        $limit(false);
        // beforeAll failed: every test of the class counts as failed.
        $failed += count($methods);
        printf("FAIL %s::beforeAll: %s: %s (%d tests not run)\n", basename($file, '.php'), get_class($e),
            str_replace("\n", "\n     ", $e->getMessage()), count($methods));
    } finally {
        if (method_exists($case, 'afterAll')) {
            $case->afterAll();
        }
        unset($case);
        gc_collect_cycles();
    }
}

printf("(%.1f s)\n", (hrtime(true) - $started) / 1e9);
printf("%d passed, %d failed\n", $passed, $failed);
exit($failed === 0 && $passed > 0 ? 0 : 1);
