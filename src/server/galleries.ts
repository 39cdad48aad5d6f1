/** The service's galleries: one Gallery file per name under DIR/galleries/, opened once and kept. */
import fs from 'node:fs';
import path from 'node:path';
import { VisageError } from '../errors.js';
import { Gallery } from '../store/gallery.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function checkGalleryName(name: string): string {
  if (!NAME.test(name)) {
    throw new VisageError(
      'E_BAD_INPUT',
      'a gallery name is 1–64 letters, digits, _ or -, starting with a letter or digit',
      {
        gallery: name,
      },
    );
  }
  return name;
}

export class GalleryRegistry {
  private readonly open = new Map<string, Gallery>();

  constructor(
    private readonly dir: string,
    private readonly encoder: () => Promise<{ id: string; dim: number }>,
  ) {}

  private file(name: string): string {
    return path.join(this.dir, 'galleries', `${checkGalleryName(name)}.sqlite`);
  }

  exists(name: string): boolean {
    return this.open.has(name) || fs.existsSync(this.file(name));
  }

  /** An existing gallery; E_UNKNOWN_GALLERY otherwise (reads never create one). */
  async get(name: string): Promise<Gallery> {
    const g = this.open.get(name);
    if (g) return g;
    if (!fs.existsSync(this.file(name)))
      throw new VisageError('E_UNKNOWN_GALLERY', `no gallery called '${name}'`, { gallery: name });
    return this.openOrCreate(name);
  }

  /** Galleries are created on first enrolment, for the server's encoder. */
  async openOrCreate(name: string, model?: { id: string; dim: number }): Promise<Gallery> {
    const g = this.open.get(name);
    if (g) return g;
    const m = model ?? (await this.encoder());
    const opened = this.open.get(name) ?? Gallery.open(this.file(name), { model: m.id, dim: m.dim });
    this.open.set(name, opened);
    return opened;
  }

  names(): string[] {
    return fs
      .readdirSync(path.join(this.dir, 'galleries'))
      .filter((f) => f.endsWith('.sqlite'))
      .map((f) => f.slice(0, -'.sqlite'.length))
      .sort();
  }

  async remove(name: string): Promise<void> {
    const g = await this.get(name);
    g.close();
    this.open.delete(name);
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(this.file(name) + suffix, { force: true });
  }

  /** Open galleries and their embedding counts (metrics). */
  sizes(): Array<[string, number]> {
    return [...this.open].map(([n, g]) => [n, g.stats().embeddings]);
  }

  closeAll(): void {
    for (const g of this.open.values()) g.close();
    this.open.clear();
  }
}
