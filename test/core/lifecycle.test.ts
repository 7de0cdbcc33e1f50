import { describe, expect, it } from 'vitest';
import { APPEAL_STATES, canTransition, InvalidTransition, transition, type Appeal } from '../../src/core/appeal.js';

describe('appeal lifecycle', () => {
  const a: Appeal = { id: '7K3Q', state: 'draft', platform: 'slack', channel: 'C1', author: 'U1', threadTs: '1.1', text: 't', targets: [], media: [], cards: [], pendingApprovers: [], createdAt: 0, updatedAt: 0 };
  it('draft → approved → publishing → published → withdrawn; draft → rejected', () => {
    let x = transition(a, 'approved', 1);
    x = transition(x, 'publishing', 2);
    x = transition(x, 'published', 3);
    x = transition(x, 'withdrawn', 4);
    expect(x.state).toBe('withdrawn');
    expect(transition(a, 'rejected', 1).state).toBe('rejected');
  });
  it('final states go nowhere, and nothing skips approval', () => {
    for (const to of APPEAL_STATES) {
      expect(canTransition('rejected', to)).toBe(false);
      expect(canTransition('withdrawn', to)).toBe(false);
    }
    expect(canTransition('draft', 'publishing')).toBe(false);
    expect(canTransition('draft', 'published')).toBe(false);
    expect(() => transition(a, 'published', 1)).toThrow(InvalidTransition);
  });
});
