<?php

declare(strict_types=1);

namespace Solar\Client\Tests;

/** Thrown by a failed assertion; the runner reports its message and where it was raised. */
final class AssertionFailed extends \Exception
{
}

/** The few assertions the tests need; each failure names what was expected and what came. */
final class Assert
{
    public static function same(mixed $expected, mixed $actual, string $what = ''): void
    {
        if ($expected !== $actual) {
            self::fail(($what !== '' ? "$what: " : '') . 'expected ' . self::show($expected) . ', got ' . self::show($actual));
        }
    }

    public static function true(bool $condition, string $what): void
    {
        if (!$condition) {
            self::fail($what);
        }
    }

    /**
     * Runs $fn, which must throw $class (or a subclass); returns the exception.
     *
     * @template T of \Throwable
     * @param class-string<T> $class
     * @return T
     */
    public static function throws(string $class, callable $fn, string $what = ''): \Throwable
    {
        try {
            $result = $fn();
        } catch (\Throwable $e) {
            if ($e instanceof $class) {
                return $e;
            }
            self::fail(($what !== '' ? "$what: " : '') . "expected $class, got " . get_class($e) . ': ' . $e->getMessage());
        }
        self::fail(($what !== '' ? "$what: " : '') . "expected $class, but it returned " . self::show($result));
    }

    public static function between(float $low, float $high, float $actual, string $what): void
    {
        if ($actual < $low || $actual > $high) {
            self::fail(sprintf('%s: expected %.3f..%.3f, got %.3f', $what, $low, $high, $actual));
        }
    }

    public static function fail(string $message): never
    {
        throw new AssertionFailed($message);
    }

    private static function show(mixed $value): string
    {
        if (is_string($value)) {
            $shown = strlen($value) > 80 ? substr($value, 0, 80) . '...(' . strlen($value) . ' bytes)' : $value;
            return '"' . addcslashes($shown, "\0..\37\177..\377\"\\") . '"';
        }
        if (is_object($value)) {
            return get_class($value) . ($value instanceof \Throwable ? '(' . $value->getMessage() . ')' : '');
        }
        return str_replace("\n", ' ', var_export($value, true));
    }
}

/** Seconds elapsed while $fn runs; $result gets what it returned or threw. */
function timed(callable $fn, mixed &$result = null): float
{
    $start = hrtime(true);
    try {
        $result = $fn();
    } catch (\Throwable $e) {
        $result = $e;
    }
    return (hrtime(true) - $start) / 1e9;
}

/** A TCP port on 127.0.0.1 that was free a moment ago: bind port 0, read it, close. */
function freePort(): int
{
    $server = stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr);
    if ($server === false) {
        throw new \RuntimeException("cannot bind 127.0.0.1:0: $errstr");
    }
    $name = stream_socket_get_name($server, false);
    fclose($server);
    return (int) substr($name, strrpos($name, ':') + 1);
}
