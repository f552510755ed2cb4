<?php

declare(strict_types=1);

/*
 * The autoloader for use without Composer:
 *
 *   require '/path/to/clients/php/autoload.php';
 *
 * It registers a PSR-4 loader for
 *  - Solar\Client\  this package's src/
 *  - Solar\Kv\ and GPBMetadata\  the classes generated from proto/kv.proto by build.sh,
 *    in the directory named by the constant SOLAR_CLIENT_GEN_DIR (define it before the
 *    require), else $SOLAR_PHP_GEN_DIR, else gen/ beside this file
 *  - Google\Protobuf\  the protobuf runtime, when no other loader (Composer's
 *    google/protobuf) or the protobuf C extension provides it: from
 *    $SOLAR_PROTOBUF_PHP_DIR, else /usr/share/php (Debian's php-google-protobuf).
 *
 * Loading this file loads no class; each is read on first use.
 */

(static function (): void {
    $gen = defined('SOLAR_CLIENT_GEN_DIR') ? (string) constant('SOLAR_CLIENT_GEN_DIR')
        : ((string) getenv('SOLAR_PHP_GEN_DIR') !== '' ? (string) getenv('SOLAR_PHP_GEN_DIR') : __DIR__ . '/gen');
    $runtime = (string) getenv('SOLAR_PROTOBUF_PHP_DIR') !== '' ? (string) getenv('SOLAR_PROTOBUF_PHP_DIR') : '/usr/share/php';
    $gen = rtrim($gen, '/');
    $runtime = rtrim($runtime, '/');

    // prefix => directories, tried in order; the first existing file wins.
    $map = [
        'Solar\\Client\\' => [__DIR__ . '/src/'],
        'Solar\\Kv\\' => [$gen . '/Solar/Kv/'],
        'GPBMetadata\\Google\\Protobuf\\' => [$runtime . '/GPBMetadata/Google/Protobuf/'],
        'GPBMetadata\\' => [$gen . '/GPBMetadata/'],
        'Google\\Protobuf\\' => [$runtime . '/Google/Protobuf/'],
    ];

    spl_autoload_register(static function (string $class) use ($map): void {
        foreach ($map as $prefix => $dirs) {
            if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
                continue;
            }
            $relative = str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
            foreach ($dirs as $dir) {
                if (is_file($dir . $relative)) {
                    require $dir . $relative;
                    return;
                }
            }
            if ($prefix === 'Solar\\Kv\\' && !is_dir($dirs[0])) {
                // The one mistake worth a clear message: build.sh has not run.
                throw new \LogicException("class $class not found under {$dirs[0]}: run clients/php/build.sh "
                    . '(protoc --php_out) or point SOLAR_PHP_GEN_DIR at its output');
            }
        }
    });
})();
