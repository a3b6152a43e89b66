// Tests run by examples/node_test_runner.sh with node's built-in test runner (node >= 20).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

const flow = (rpm) => {
  if (rpm < 0) throw new RangeError('rpm must be >= 0');
  return rpm * 0.25;
};

test('flow at rest is zero', () => {
  assert.equal(flow(0), 0);
});

test('negative rpm is rejected', () => {
  assert.throws(() => flow(-1), RangeError);
});

describe('scaling', () => {
  test('1200 rpm gives 300 l/min', () => {
    assert.equal(flow(1200), 300);
  });
  test('on the hardware rig', { skip: 'needs the rig' }, () => {});
});
