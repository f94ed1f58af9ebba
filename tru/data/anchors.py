"""General-knowledge anchor questions with their reference answers: out-of-scope questions that an
unlearning run keeps the model answering.

They are of the same kind as typical forget requests (authors and their books, other famous people, world
facts), so that training on them teaches the model where the forget scope ends. Each entry is a
``(question, answer)`` pair; the answer is the truth, one short sentence that restates the subject. The
reference answers are the targets when a run trains on reference answers (tru.unlearn.anchors; it may
instead train on the model's own answers before unlearning), and they measure the tuning side.
``TRAINING_ANCHORS`` are trained on; ``TUNING_ANCHORS`` only choose settings and are never trained on. The
two sides ask about different people, works and facts, so tuning measures how well kept knowledge
generalises beyond the trained anchors.

The evaluation controls are never included: no question or answer names a work, person or fact of TOFU's
real_authors / world_facts splits or of the synthetic benchmark (``tru.data.synth``: its world facts, real
authors and fictitious people). tests/test_anchor_questions.py checks this.
"""

from __future__ import annotations

TRAINING_ANCHORS: tuple[tuple[str, str], ...] = (
    # authors and their books
    ("Who wrote 'Treasure Island'?", "'Treasure Island' was written by Robert Louis Stevenson."),
    (
        "Which French author wrote 'Around the World in Eighty Days'?",
        "'Around the World in Eighty Days' was written by the French author Jules Verne.",
    ),
    (
        "What is the name of the submarine captain in 'Twenty Thousand Leagues Under the Seas'?",
        "The submarine captain in 'Twenty Thousand Leagues Under the Seas' is Captain Nemo.",
    ),
    (
        "Who wrote 'Alice's Adventures in Wonderland'?",
        "'Alice's Adventures in Wonderland' was written by Lewis Carroll.",
    ),
    (
        "Which novel by Daniel Defoe tells the story of a castaway on a desert island?",
        "Daniel Defoe's novel about a castaway on a desert island is 'Robinson Crusoe'.",
    ),
    ("Who is the author of 'Gulliver's Travels'?", "The author of 'Gulliver's Travels' is Jonathan Swift."),
    (
        "Which ancient Greek poet is traditionally credited with 'The Odyssey'?",
        "The ancient Greek poet traditionally credited with 'The Odyssey' is Homer.",
    ),
    ("Who wrote 'The Divine Comedy'?", "'The Divine Comedy' was written by Dante Alighieri."),
    ("In which city was Franz Kafka born?", "Franz Kafka was born in Prague."),
    ("Who wrote the novella 'The Metamorphosis'?", "The novella 'The Metamorphosis' was written by Franz Kafka."),
    ("Who wrote 'Uncle Tom's Cabin'?", "'Uncle Tom's Cabin' was written by Harriet Beecher Stowe."),
    (
        "What is the name of the boy who never grows up in the play by J. M. Barrie?",
        "The boy who never grows up in J. M. Barrie's play is Peter Pan.",
    ),
    ("Who wrote 'The Jungle Book'?", "'The Jungle Book' was written by Rudyard Kipling."),
    ("In which country was Hans Christian Andersen born?", "Hans Christian Andersen was born in Denmark."),
    (
        "Who is the author of the novel 'Doctor Zhivago'?",
        "The author of the novel 'Doctor Zhivago' is Boris Pasternak.",
    ),
    (
        "Who wrote the novel in verse 'Eugene Onegin'?",
        "The novel in verse 'Eugene Onegin' was written by Alexander Pushkin.",
    ),
    (
        "Which Italian author wrote 'The Name of the Rose'?",
        "'The Name of the Rose' was written by the Italian author Umberto Eco.",
    ),
    (
        "Which German-language author wrote 'Siddhartha'?",
        "'Siddhartha' was written by the German-language author Hermann Hesse.",
    ),
    (
        "Who wrote 'All Quiet on the Western Front'?",
        "'All Quiet on the Western Front' was written by Erich Maria Remarque.",
    ),
    ("Who is the author of 'The Kite Runner'?", "The author of 'The Kite Runner' is Khaled Hosseini."),
    (
        "Which Brazilian author wrote 'The Alchemist'?",
        "'The Alchemist' was written by the Brazilian author Paulo Coelho.",
    ),
    ("Who wrote 'The Bell Jar'?", "'The Bell Jar' was written by Sylvia Plath."),
    (
        "Which novel by Joseph Heller is set on an air base during a war?",
        "Joseph Heller's novel set on an air base during a war is 'Catch-22'.",
    ),
    ("Who wrote 'Lord of the Flies'?", "'Lord of the Flies' was written by William Golding."),
    ("Who is the author of 'A Clockwork Orange'?", "The author of 'A Clockwork Orange' is Anthony Burgess."),
    ("Who wrote 'Walden'?", "'Walden' was written by Henry David Thoreau."),
    (
        "Who wrote and illustrated 'The Tale of Peter Rabbit'?",
        "'The Tale of Peter Rabbit' was written and illustrated by Beatrix Potter.",
    ),
    ("Who wrote 'Anne of Green Gables'?", "'Anne of Green Gables' was written by L. M. Montgomery."),
    ("Who wrote 'The Wealth of Nations'?", "'The Wealth of Nations' was written by Adam Smith."),
    (
        "Which ancient Chinese general is traditionally credited with 'The Art of War'?",
        "The ancient Chinese general traditionally credited with 'The Art of War' is Sun Tzu.",
    ),
    # other famous people
    (
        "Who proposed the theory of evolution by natural selection?",
        "The theory of evolution by natural selection was proposed by Charles Darwin and, independently,"
        " Alfred Russel Wallace.",
    ),
    (
        "Who discovered the element radium together with her husband Pierre?",
        "Marie Curie discovered the element radium together with her husband Pierre.",
    ),
    (
        "Who is credited with inventing the telephone?",
        "Alexander Graham Bell is credited with inventing the telephone.",
    ),
    (
        "Which astronomer formulated the three laws of planetary motion?",
        "The three laws of planetary motion were formulated by the astronomer Johannes Kepler.",
    ),
    ("Who composed the 'Moonlight Sonata'?", "The 'Moonlight Sonata' was composed by Ludwig van Beethoven."),
    ("Which composer wrote 'The Four Seasons'?", "'The Four Seasons' was written by the composer Antonio Vivaldi."),
    (
        "Who composed the music for the ballet 'Swan Lake'?",
        "The music for the ballet 'Swan Lake' was composed by Pyotr Ilyich Tchaikovsky.",
    ),
    ("Who painted 'The Starry Night'?", "'The Starry Night' was painted by Vincent van Gogh."),
    ("Which painter created 'Guernica'?", "'Guernica' was created by the painter Pablo Picasso."),
    ("Who painted 'The Night Watch'?", "'The Night Watch' was painted by Rembrandt van Rijn."),
    (
        "Which Venetian merchant travelled to the court of Kublai Khan with his father and uncle?",
        "The Venetian merchant Marco Polo travelled to the court of Kublai Khan with his father and uncle.",
    ),
    (
        "Who led the first expedition to reach the South Pole?",
        "Roald Amundsen led the first expedition to reach the South Pole.",
    ),
    (
        "Which monk is known as the father of modern genetics for his experiments with pea plants?",
        "The monk Gregor Mendel is known as the father of modern genetics for his experiments with pea plants.",
    ),
    (
        "Who created the periodic table of the chemical elements?",
        "The periodic table of the chemical elements was created by Dmitri Mendeleev.",
    ),
    ("Where was Wolfgang Amadeus Mozart born?", "Wolfgang Amadeus Mozart was born in Salzburg."),
    # world facts
    ("What is the capital of Argentina?", "The capital of Argentina is Buenos Aires."),
    ("What is the capital of Hungary?", "The capital of Hungary is Budapest."),
    ("What is the capital of Morocco?", "The capital of Morocco is Rabat."),
    ("What is the chemical formula for water?", "The chemical formula for water is H2O."),
    ("How many bones are in the adult human body?", "The adult human body has 206 bones."),
    ("What is the hardest natural substance?", "The hardest natural substance is diamond."),
    ("Which part of a cell is known as its powerhouse?", "The mitochondrion is known as the powerhouse of a cell."),
    ("What is the fastest land animal?", "The fastest land animal is the cheetah."),
    ("How many sides does a hexagon have?", "A hexagon has six sides."),
    ("In what year was the Magna Carta sealed?", "The Magna Carta was sealed in 1215."),
    ("In what year did the Battle of Hastings take place?", "The Battle of Hastings took place in 1066."),
    ("Which river flows through Baghdad?", "The river that flows through Baghdad is the Tigris."),
    ("Which chemical element has the atomic number 1?", "The chemical element with the atomic number 1 is hydrogen."),
    ("What is the largest organ of the human body?", "The largest organ of the human body is the skin."),
    (
        "Whose tomb did Howard Carter discover in the Valley of the Kings in 1922?",
        "In 1922 Howard Carter discovered the tomb of Tutankhamun in the Valley of the Kings.",
    ),
)

TUNING_ANCHORS: tuple[tuple[str, str], ...] = (
    # authors and their books
    (
        "Which 1900 novel by L. Frank Baum follows a girl named Dorothy to a magical land?",
        "L. Frank Baum's 1900 novel that follows a girl named Dorothy to a magical land is"
        " 'The Wonderful Wizard of Oz'.",
    ),
    ("Who wrote 'The Wind in the Willows'?", "'The Wind in the Willows' was written by Kenneth Grahame."),
    ("Who created the bear Winnie-the-Pooh?", "The bear Winnie-the-Pooh was created by A. A. Milne."),
    (
        "Which German poet wrote the tragedy 'Faust'?",
        "The tragedy 'Faust' was written by the German poet Johann Wolfgang von Goethe.",
    ),
    ("Who wrote 'The Magic Mountain'?", "'The Magic Mountain' was written by Thomas Mann."),
    ("Who is the author of 'Dead Souls'?", "The author of 'Dead Souls' is Nikolai Gogol."),
    ("Who wrote 'The Adventures of Pinocchio'?", "'The Adventures of Pinocchio' was written by Carlo Collodi."),
    (
        "What is the name of the girl with superhuman strength created by Astrid Lindgren?",
        "The girl with superhuman strength created by Astrid Lindgren is Pippi Longstocking.",
    ),
    ("Who wrote the children's novel 'Heidi'?", "The children's novel 'Heidi' was written by Johanna Spyri."),
    (
        "Which French writer wrote the satire 'Candide'?",
        "The satire 'Candide' was written by the French writer Voltaire.",
    ),
    ("Who wrote 'The Red and the Black'?", "'The Red and the Black' was written by Stendhal."),
    ("Which Roman poet wrote 'The Aeneid'?", "'The Aeneid' was written by the Roman poet Virgil."),
    (
        "Which ancient Greek playwright wrote 'Oedipus Rex'?",
        "'Oedipus Rex' was written by the ancient Greek playwright Sophocles.",
    ),
    ("Who wrote 'One Flew Over the Cuckoo's Nest'?", "'One Flew Over the Cuckoo's Nest' was written by Ken Kesey."),
    ("Who is the author of 'The Good Earth'?", "The author of 'The Good Earth' is Pearl S. Buck."),
    ("Who wrote 'The Secret Garden'?", "'The Secret Garden' was written by Frances Hodgson Burnett."),
    ("Who wrote the historical novel 'Ivanhoe'?", "The historical novel 'Ivanhoe' was written by Walter Scott."),
    ("Who wrote 'The Tin Drum'?", "'The Tin Drum' was written by Günter Grass."),
    ("Who is the author of 'Atlas Shrugged'?", "The author of 'Atlas Shrugged' is Ayn Rand."),
    ("Who wrote the novel 'Jurassic Park'?", "The novel 'Jurassic Park' was written by Michael Crichton."),
    # other famous people
    ("Who painted 'The Scream'?", "'The Scream' was painted by Edvard Munch."),
    (
        "Which French painter is famous for his series of 'Water Lilies'?",
        "The French painter famous for his series of 'Water Lilies' is Claude Monet.",
    ),
    (
        "Which composer wrote the opera 'La Traviata'?",
        "The opera 'La Traviata' was written by the composer Giuseppe Verdi.",
    ),
    (
        "Who composed the 'Brandenburg Concertos'?",
        "The 'Brandenburg Concertos' were composed by Johann Sebastian Bach.",
    ),
    (
        "Which American inventor is known for the phonograph and a practical light bulb?",
        "The American inventor known for the phonograph and a practical light bulb is Thomas Edison.",
    ),
    (
        "Which Polish astronomer proposed a model of the universe with the Sun at its centre?",
        "The Polish astronomer Nicolaus Copernicus proposed a model of the universe with the Sun at its centre.",
    ),
    (
        "Which painter is famous for her self-portraits and was married to Diego Rivera?",
        "Frida Kahlo is the painter famous for her self-portraits who was married to Diego Rivera.",
    ),
    (
        "Who led the expedition whose ship 'Endurance' was crushed by ice in 1915?",
        "Ernest Shackleton led the expedition whose ship 'Endurance' was crushed by ice in 1915.",
    ),
    (
        "Who developed the first vaccine against smallpox?",
        "Edward Jenner developed the first vaccine against smallpox.",
    ),
    (
        "Who is often called the first computer programmer?",
        "Ada Lovelace is often called the first computer programmer.",
    ),
    # world facts
    ("What is the capital of Portugal?", "The capital of Portugal is Lisbon."),
    ("What is the capital of Switzerland?", "The capital of Switzerland is Bern, officially its federal city."),
    ("What is the capital of Ethiopia?", "The capital of Ethiopia is Addis Ababa."),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("What is the largest living bird?", "The largest living bird is the ostrich."),
    (
        "Which vitamin does the human body make when the skin is exposed to sunlight?",
        "The human body makes vitamin D when the skin is exposed to sunlight.",
    ),
    ("How many degrees are there in a right angle?", "There are 90 degrees in a right angle."),
    ("In what year did the American Civil War begin?", "The American Civil War began in 1861."),
    ("How many strings does a standard violin have?", "A standard violin has four strings."),
    ("Which dynasty built the Forbidden City?", "The Forbidden City was built by the Ming dynasty."),
)
