<?php

declare(strict_types=1);

namespace Solar\Client\Tests;

/**
 * A real solar server for one test class: the binary from $SOLAR_BIN, a config
 * in its own temp directory (pid file, state_dir and logs there too), started
 * with proc_open and stopped with SIGTERM by pid.
 *
 *   $server = SolarServer::start('worker { name: "builtin:debug" }');
 *   $server->address();   // "127.0.0.1:PORT", from the "ready: listening on" log line
 *   $server->restart();   // stop, then start again on the same port
 *
 * The directory is 0755: as root, solar's workers run as nobody and must reach
 * state_dir.
 */
final class SolarServer
{
    private const READY_TIMEOUT_S = 20.0;
    private const STOP_TIMEOUT_S = 15.0;

    /** @var list<\WeakReference<SolarServer>> every server started, stopped at exit whatever happens */
    private static array $all = [];

    public readonly string $dir;
    private int $port;
    private ?int $udpPort = null;
    /** @var resource|null */
    private $process = null;
    private int $pid = 0;
    private int $starts = 0;
    private string $stderrPath = '';

    private function __construct(private readonly string $config, int $port)
    {
        $this->port = $port;
        $base = sys_get_temp_dir() . '/solar-php-test-';
        do {
            $dir = $base . bin2hex(random_bytes(4));
        } while (file_exists($dir));
        if (!mkdir($dir, 0755) || !chmod($dir, 0755)) {
            throw new \RuntimeException("cannot create $dir");
        }
        $this->dir = $dir;
        if (self::$all === []) {
            register_shutdown_function(static function (): void {
                foreach (self::$all as $ref) {
                    $ref->get()?->destroy();
                }
            });
        }
        self::$all[] = \WeakReference::create($this);
    }

    public function __destruct()
    {
        $this->destroy();
    }

    /**
     * @param string $config config lines added to the harness's (listen, admin_listen,
     *                       pid_file, state_dir, graceful_timeout_ms): the worker, udp, workers
     * @param int    $port   0 picks a free port; restart() keeps whichever was used
     */
    public static function start(string $config, int $port = 0): self
    {
        $server = new self($config, $port);
        $server->launch();
        return $server;
    }

    public static function binary(): string
    {
        $bin = (string) getenv('SOLAR_BIN');
        if ($bin === '' || !is_file($bin) || !is_executable($bin)) {
            throw new \RuntimeException('set SOLAR_BIN to the solar server binary (got "' . $bin . '")');
        }
        return $bin;
    }

    public function address(): string
    {
        return "127.0.0.1:{$this->port}";
    }

    public function port(): int
    {
        return $this->port;
    }

    public function udpAddress(): string
    {
        if ($this->udpPort === null) {
            throw new \LogicException('this server has no udp section');
        }
        return "127.0.0.1:{$this->udpPort}";
    }

    public function pid(): int
    {
        return $this->pid;
    }

    /** Everything the current run wrote to stderr (solar logs there without log_dir). */
    public function log(): string
    {
        return (string) @file_get_contents($this->stderrPath);
    }

    /** Stops (SIGTERM, graceful) and starts again on the same port, state kept. */
    public function restart(): void
    {
        $this->stop();
        $this->launch();
    }

    /** SIGTERM to the master; waits for its exit (SIGKILL after STOP_TIMEOUT_S). Returns the exit code. */
    public function stop(): int
    {
        if ($this->process === null) {
            return -1;
        }
        proc_terminate($this->process, 15);
        $code = $this->waitExit(self::STOP_TIMEOUT_S);
        if ($code === null) {
            proc_terminate($this->process, 9);
            $code = $this->waitExit(5.0) ?? -1;
        }
        proc_close($this->process);
        $this->process = null;
        $this->pid = 0;
        return $code;
    }

    private function launch(): void
    {
        ++$this->starts;
        $conf = "{$this->dir}/solar.conf";
        file_put_contents($conf, implode("\n", [
            "listen: \"127.0.0.1:{$this->port}\"",
            'admin_listen: "127.0.0.1:0"',
            "pid_file: \"{$this->dir}/solar.pid\"",
            "state_dir: \"{$this->dir}/state\"",
            'graceful_timeout_ms: 5000',
            $this->config,
            '',
        ]));
        $this->stderrPath = "{$this->dir}/stderr.{$this->starts}.log";
        $process = proc_open(
            [self::binary(), '-c', $conf],
            [0 => ['file', '/dev/null', 'r'], 1 => ['file', "{$this->dir}/stdout.log", 'a'], 2 => ['file', $this->stderrPath, 'w']],
            $pipes,
            $this->dir,
        );
        if ($process === false) {
            throw new \RuntimeException('proc_open of ' . self::binary() . ' failed');
        }
        $this->process = $process;
        $this->pid = proc_get_status($process)['pid'];
        $deadline = microtime(true) + self::READY_TIMEOUT_S;
        while (preg_match('/ready: listening on \S+:(\d+) /', $this->log(), $m) !== 1) {
            if (!proc_get_status($process)['running'] || microtime(true) > $deadline) {
                $this->stop();
                throw new \RuntimeException("solar did not become ready; its log:\n" . $this->log());
            }
            usleep(20_000);
        }
        $this->port = (int) $m[1];  // port 0 became this; a restart binds it again
        $this->udpPort = preg_match('/; udp on \S+:(\d+) /', $this->log(), $u) === 1 ? (int) $u[1] : null;
    }

    private function waitExit(float $seconds): ?int
    {
        $deadline = microtime(true) + $seconds;
        do {
            $status = proc_get_status($this->process);
            if (!$status['running']) {
                return $status['exitcode'];
            }
            usleep(10_000);
        } while (microtime(true) < $deadline);
        return null;
    }

    private function destroy(): void
    {
        $this->stop();
        if (str_starts_with($this->dir, sys_get_temp_dir() . '/solar-php-test-') && is_dir($this->dir)) {
            exec('rm -rf ' . escapeshellarg($this->dir));
        }
    }
}
