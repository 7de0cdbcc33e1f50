import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, requireBuild } from './e2e/harness.js';

/**
 * The Docker image installs production dependencies only (`npm prune --omit=dev`): every
 * package the built tree imports must be a runtime dependency, never a devDependency.
 */
describe('the built tree', () => {
  it('imports only runtime dependencies', () => {
    requireBuild();
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const files = (readdirSync(join(ROOT, 'dist'), { recursive: true }) as string[]).filter((f) => f.endsWith('.js'));
    expect(files.length).toBeGreaterThan(5);
    const imported = new Set<string>();
    for (const f of files) {
      const src = readFileSync(join(ROOT, 'dist', f), 'utf8');
      for (const m of src.matchAll(/(?:^|\s)(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm)) {
        const spec = m[1] ?? m[2]!;
        if (spec.startsWith('.') || spec.startsWith('node:') || builtinModules.includes(spec)) continue;
        imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
    expect([...imported].length).toBeGreaterThan(3);
    const missing = [...imported].filter((p) => !(p in pkg.dependencies));
    expect(missing).toEqual([]);
  });
});
