import { Visage } from 'visage';

const v = new Visage({ gallery: 'people.sqlite' });
await v.enroll('alice', 'alice.jpg'); // one photo is enough (its largest face)
const { faces } = await v.identify('party.jpg'); // every face in the photo
for (const f of faces) console.log(f.match ? `${f.match.name} d=${f.match.distance.toFixed(3)}` : 'unknown');
const { same, distance, confidence } = await v.verify('a.jpg', 'b.jpg');
console.log(same ? 'same person' : 'different people', distance.toFixed(3), confidence?.toFixed(2));
await v.close();
