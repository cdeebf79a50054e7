/** Open connections per client address, for per-address limits (the tracker's and the calls' sockets). */
export class AddressCounts {
  private readonly counts = new Map<string, number>()

  count (address: string): number { return this.counts.get(address) ?? 0 }

  add (address: string): void {
    if (address !== '') this.counts.set(address, this.count(address) + 1)
  }

  remove (address: string): void {
    if (address === '') return
    const n = this.count(address) - 1
    if (n <= 0) this.counts.delete(address)
    else this.counts.set(address, n)
  }
}
