/** The sample activity's work. */
export function greet(city: string): string {
  if (typeof city !== 'string' || city.trim() === '') throw new TypeError('a city name is required');
  return `Hello ${city.trim()}!`;
}
