<?php

declare(strict_types=1);

namespace Solar\Client;

use Solar\Kv\Batch;
use Solar\Kv\Del;
use Solar\Kv\Get;
use Solar\Kv\KvRequest;
use Solar\Kv\KvResponse;
use Solar\Kv\Op;
use Solar\Kv\Put;
use Solar\Kv\Scan;
use Solar\Kv\Status;

/**
 * The KV service (builtin:kv, proto/kv.proto) over a Connection (frame32) or a
 * UdpConnection (one datagram each way). Keys and values are byte strings.
 *
 *   $kv = new KvClient(new Connection('127.0.0.1:7700'));
 *   $kv->put('user:42', '{"name":"Ada"}');
 *   $kv->get('user:42');      // the value, or null when the key does not exist
 *   $kv->delete('user:42');   // true, or false when it did not exist
 *   foreach ($kv->scanAll('user:') as $key => $value) { ... }
 *
 * Statuses map as solar-cli maps them: OK is the result, NOT_FOUND is null (get)
 * or false (delete), anything else throws KvException (status name and the
 * server's text; isRetryable() for UNAVAILABLE). Transport failures throw the
 * Connection's exceptions.
 *
 * Resending: reads (get, scan, a batch of only gets and scans) are passed to
 * Connection::call() as idempotent, so a pooled connection that breaks after
 * the request went out is retried once for them. Writes (put, delete, a batch
 * with either) are not: a put resent after another client's newer put would
 * undo it, and a resent delete would report false. They are still sent on a
 * fresh socket when the pooled one is found closed before sending.
 */
final class KvClient
{
    private int $nextId = 1;

    public function __construct(private readonly Connection|UdpConnection $connection)
    {
    }

    public function connection(): Connection|UdpConnection
    {
        return $this->connection;
    }

    /** The value, or null when the key does not exist. */
    public function get(string $key): ?string
    {
        return self::valueOf($this->request((new KvRequest())->setGet((new Get())->setKey($key))));
    }

    /** Inserts or replaces. */
    public function put(string $key, string $value): void
    {
        self::putOf($this->request((new KvRequest())->setPut((new Put())->setKey($key)->setValue($value))));
    }

    /** true when the key existed and is gone, false when it did not exist. */
    public function delete(string $key): bool
    {
        return self::deletedOf($this->request((new KvRequest())->setDel((new Del())->setKey($key))));
    }

    /**
     * One page of the keys that start with $prefix, in bytewise order.
     *
     * @param int $limit at most this many (0: the server's default, 100; above its maximum,
     *                   1000 by default, is INVALID_ARGUMENT)
     * @param string $startAfter only keys after this one: the previous page's lastKey()
     * @param bool $keysOnly values come back empty: a cheaper listing
     */
    public function scan(string $prefix = '', int $limit = 0, string $startAfter = '', bool $keysOnly = false): ScanResult
    {
        return self::scanOf($this->request((new KvRequest())->setScan(self::scanMessage($prefix, $limit, $startAfter, $keysOnly))));
    }

    /**
     * Every key that starts with $prefix, page by page, as a generator of
     * key => value (generator keys stay strings, even "42").
     *
     * @return \Generator<string, string>
     */
    public function scanAll(string $prefix = '', int $pageSize = 0, bool $keysOnly = false, string $startAfter = ''): \Generator
    {
        do {
            $page = $this->scan($prefix, $pageSize, $startAfter, $keysOnly);
            foreach ($page->entries as [$key, $value]) {
                yield $key => $value;
            }
            $startAfter = $page->lastKey() ?? $startAfter;
        } while ($page->more && $page->entries !== []);
    }

    /**
     * Several operations in one round trip and one transaction: all of the puts
     * and deletes are applied or none is. Build the operations with getOp(),
     * putOp(), deleteOp() and scanOp(). Returns one result per operation, with the
     * keys of $ops: get ?string, put true, delete bool, scan ScanResult.
     *
     * @param array<array-key, Op> $ops
     * @return array<array-key, string|bool|ScanResult|null>
     * @throws KvException the batch was refused or failed as a whole (nothing applied)
     */
    public function batch(array $ops): array
    {
        if ($ops === []) {
            return [];
        }
        foreach ($ops as $name => $op) {
            if (!$op instanceof Op || $op->getOp() === '') {
                throw new \InvalidArgumentException("batch operation '$name' is not a Solar\\Kv\\Op with an operation set");
            }
        }
        $response = $this->request((new KvRequest())->setBatch((new Batch())->setOps(array_values($ops))));
        if ($response->getStatus() !== Status::OK) {
            throw self::failure($response);
        }
        $results = iterator_to_array($response->getResults(), false);
        if (count($results) !== count($ops)) {
            throw new ProtocolException(sprintf('a batch of %d operations got %d results', count($ops), count($results)));
        }
        $out = [];
        $i = 0;
        foreach ($ops as $name => $op) {
            $result = $results[$i++];
            $out[$name] = match ($op->getOp()) {
                'get' => self::valueOf($result),
                'put' => self::putOf($result),
                'del' => self::deletedOf($result),
                'scan' => self::scanOf($result),
            };
        }
        return $out;
    }

    public static function getOp(string $key): Op
    {
        return (new Op())->setGet((new Get())->setKey($key));
    }

    public static function putOp(string $key, string $value): Op
    {
        return (new Op())->setPut((new Put())->setKey($key)->setValue($value));
    }

    public static function deleteOp(string $key): Op
    {
        return (new Op())->setDel((new Del())->setKey($key));
    }

    public static function scanOp(string $prefix = '', int $limit = 0, string $startAfter = '', bool $keysOnly = false): Op
    {
        return (new Op())->setScan(self::scanMessage($prefix, $limit, $startAfter, $keysOnly));
    }

    /**
     * Sends any KvRequest and returns the KvResponse whatever its status: for
     * requests the methods above do not cover. Sets the request's id.
     *
     * @throws ProtocolException the reply is not a KvResponse, or answers another request
     * @throws ServerException   the worker failed on it (an error reply); the connection is fine
     */
    public function request(KvRequest $request): KvResponse
    {
        $id = $this->nextId++;
        $request->setId($id);
        $bytes = $request->serializeToString();
        if ($this->connection instanceof UdpConnection) {
            // Over UDP a late reply to an earlier request may come first: wait for ours.
            // Id 0 is the server's "your request did not parse", which can only be ours.
            $response = null;
            $this->connection->call($bytes, accept: static function (string $reply) use ($id, &$response): bool {
                $parsed = self::parse($reply);
                if ($parsed->getId() !== $id && $parsed->getId() !== 0) {
                    return false;
                }
                $response = $parsed;
                return true;
            });
            return $response;
        }
        try {
            $response = self::parse($this->connection->call($bytes, idempotent: self::readOnly($request)));
            if ($response->getId() !== $id && $response->getId() !== 0) {
                throw new ProtocolException(sprintf('reply id %d answers another request than %d', $response->getId(), $id));
            }
        } catch (ProtocolException $e) {
            $this->connection->close();  // the replies are out of step with the requests
            throw $e;
        }
        return $response;
    }

    /** get, scan, or a batch of only those: running it twice changes nothing. */
    private static function readOnly(KvRequest $request): bool
    {
        return match ($request->getOp()) {
            'get', 'scan' => true,
            'batch' => array_reduce(
                iterator_to_array($request->getBatch()->getOps(), false),
                static fn (bool $all, Op $op): bool => $all && in_array($op->getOp(), ['get', 'scan'], true),
                true,
            ),
            default => false,
        };
    }

    private static function parse(string $bytes): KvResponse
    {
        $response = new KvResponse();
        try {
            $response->mergeFromString($bytes);
        } catch (\Exception $e) {
            throw new ProtocolException(sprintf('the reply (%d bytes) is not a solar.kv.KvResponse: %s', strlen($bytes), $e->getMessage()));
        }
        return $response;
    }

    private static function scanMessage(string $prefix, int $limit, string $startAfter, bool $keysOnly): Scan
    {
        if ($limit < 0 || $limit > 0xffffffff) {
            throw new \InvalidArgumentException("scan limit $limit: 0 (server default) or a positive count");
        }
        return (new Scan())->setPrefix($prefix)->setLimit($limit)->setStartAfter($startAfter)->setKeysOnly($keysOnly);
    }

    private static function valueOf(KvResponse $response): ?string
    {
        return match ($response->getStatus()) {
            Status::OK => $response->getValue(),
            Status::NOT_FOUND => null,
            default => throw self::failure($response),
        };
    }

    private static function putOf(KvResponse $response): bool
    {
        if ($response->getStatus() !== Status::OK) {
            throw self::failure($response);
        }
        return true;
    }

    private static function deletedOf(KvResponse $response): bool
    {
        return match ($response->getStatus()) {
            Status::OK => true,
            Status::NOT_FOUND => false,
            default => throw self::failure($response),
        };
    }

    private static function scanOf(KvResponse $response): ScanResult
    {
        if ($response->getStatus() !== Status::OK) {
            throw self::failure($response);
        }
        $entries = [];
        foreach ($response->getEntries() as $entry) {
            $entries[] = [$entry->getKey(), $entry->getValue()];
        }
        return new ScanResult($entries, $response->getMore());
    }

    private static function failure(KvResponse $response): KvException
    {
        return new KvException($response->getStatus(), $response->getError());
    }
}
