<?php

declare(strict_types=1);

namespace Solar\Client;

/**
 * One page of a scan: the entries in key order and whether more keys match.
 *
 *   $page = $kv->scan('user:', limit: 50);
 *   foreach ($page->entries as [$key, $value]) { ... }
 *   if ($page->more) $next = $kv->scan('user:', limit: 50, startAfter: $page->lastKey());
 *
 * Entries are [key, value] pairs rather than an array keyed by the key: PHP turns
 * an array key such as "42" into the integer 42.
 */
final class ScanResult
{
    /**
     * @param list<array{0: string, 1: string}> $entries values are "" with keysOnly
     */
    public function __construct(
        public readonly array $entries,
        public readonly bool $more,
    ) {
    }

    /** The key to pass as startAfter for the next page; null on an empty page. */
    public function lastKey(): ?string
    {
        return $this->entries === [] ? null : $this->entries[count($this->entries) - 1][0];
    }

    /** @return list<string> */
    public function keys(): array
    {
        return array_column($this->entries, 0);
    }
}
