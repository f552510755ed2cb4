<?php

declare(strict_types=1);

namespace Solar\Client\Tests;

/** Runs tests/fake_server.php SCENARIO in its own PHP process and reads what it reports. */
final class FakeServer
{
    /** @var resource */
    private $process;
    /** @var resource */
    private $stdout;
    private int $port;
    private int $accepted = 0;

    public function __construct(string $scenario)
    {
        $process = proc_open(
            [PHP_BINARY, __DIR__ . '/../fake_server.php', $scenario],
            [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['file', '/dev/null', 'w']],
            $pipes,
        );
        if ($process === false) {
            throw new \RuntimeException('cannot start fake_server.php');
        }
        $this->process = $process;
        $this->stdout = $pipes[1];
        $line = $this->readLine(5.0);
        if ($line === null || preg_match('/^port (\d+)$/', $line, $m) !== 1) {
            throw new \RuntimeException("fake_server.php $scenario did not report its port (got " . var_export($line, true) . ')');
        }
        $this->port = (int) $m[1];
    }

    public function __destruct()
    {
        proc_terminate($this->process, 9);
        proc_close($this->process);
    }

    public function address(): string
    {
        return "127.0.0.1:{$this->port}";
    }

    /** Connections the server has accepted, waiting $settle seconds for late reports. */
    public function accepted(float $settle = 0.1): int
    {
        $deadline = microtime(true) + $settle;
        while (($left = $deadline - microtime(true)) > 0) {
            $line = $this->readLine($left);
            if ($line !== null && preg_match('/^accepted (\d+)$/', $line, $m) === 1) {
                $this->accepted = (int) $m[1];
            }
        }
        return $this->accepted;
    }

    private function readLine(float $timeout): ?string
    {
        $read = [$this->stdout];
        $write = null;
        $except = null;
        $us = (int) ($timeout * 1e6);
        if (@stream_select($read, $write, $except, intdiv($us, 1_000_000), $us % 1_000_000) < 1) {
            return null;
        }
        $line = fgets($this->stdout);
        return $line === false ? null : rtrim($line, "\n");
    }
}
