import { BlockList, isIP } from 'node:net';

/** Whether a socket's peer address is inside the configured list (IPv4-mapped IPv6 counts as IPv4). */
export function addressIn(list: BlockList, address: string | undefined): boolean {
  if (!address) return false;
  const plain = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  return list.check(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4');
}
