"""General-knowledge anchor questions: out-of-scope questions that an unlearning run keeps the model answering.

They are of the same kind as typical forget requests (authors and their books, other famous people, world
facts), so that training on them teaches the model where the forget scope ends; their targets are the
model's own answers before unlearning. ``TRAINING_ANCHORS`` are trained on; ``TUNING_ANCHORS`` only choose
settings and are never trained on. The two sides ask about different people, works and facts, so tuning
measures how well kept knowledge generalises beyond the trained anchors.

The evaluation controls are never included: no question asks about a work, person or fact of TOFU's
real_authors / world_facts splits or of the synthetic benchmark (``tru.data.synth``: its world facts, real
authors and fictitious people). tests/test_anchor_questions.py checks this.
"""

from __future__ import annotations

TRAINING_ANCHORS: tuple[str, ...] = (
    # authors and their books
    "Who wrote 'Treasure Island'?",
    "Which French author wrote 'Around the World in Eighty Days'?",
    "What is the name of the submarine captain in 'Twenty Thousand Leagues Under the Seas'?",
    "Who wrote 'Alice's Adventures in Wonderland'?",
    "Which novel by Daniel Defoe tells the story of a castaway on a desert island?",
    "Who is the author of 'Gulliver's Travels'?",
    "Which ancient Greek poet is traditionally credited with 'The Odyssey'?",
    "Who wrote 'The Divine Comedy'?",
    "In which city was Franz Kafka born?",
    "Who wrote the novella 'The Metamorphosis'?",
    "Who wrote 'Uncle Tom's Cabin'?",
    "What is the name of the boy who never grows up in the play by J. M. Barrie?",
    "Who wrote 'The Jungle Book'?",
    "In which country was Hans Christian Andersen born?",
    "Who is the author of the novel 'Doctor Zhivago'?",
    "Who wrote the novel in verse 'Eugene Onegin'?",
    "Which Italian author wrote 'The Name of the Rose'?",
    "Which German-language author wrote 'Siddhartha'?",
    "Who wrote 'All Quiet on the Western Front'?",
    "Who is the author of 'The Kite Runner'?",
    "Which Brazilian author wrote 'The Alchemist'?",
    "Who wrote 'The Bell Jar'?",
    "Which novel by Joseph Heller is set on an air base during a war?",
    "Who wrote 'Lord of the Flies'?",
    "Who is the author of 'A Clockwork Orange'?",
    "Who wrote 'Walden'?",
    "Who wrote and illustrated 'The Tale of Peter Rabbit'?",
    "Who wrote 'Anne of Green Gables'?",
    "Who wrote 'The Wealth of Nations'?",
    "Which ancient Chinese general is traditionally credited with 'The Art of War'?",
    # other famous people
    "Who proposed the theory of evolution by natural selection?",
    "Who discovered the element radium together with her husband Pierre?",
    "Who is credited with inventing the telephone?",
    "Which astronomer formulated the three laws of planetary motion?",
    "Who composed the 'Moonlight Sonata'?",
    "Which composer wrote 'The Four Seasons'?",
    "Who composed the music for the ballet 'Swan Lake'?",
    "Who painted 'The Starry Night'?",
    "Which painter created 'Guernica'?",
    "Who painted 'The Night Watch'?",
    "Which Venetian merchant travelled to the court of Kublai Khan?",
    "Who led the first expedition to reach the South Pole?",
    "Which monk is known as the father of modern genetics for his experiments with pea plants?",
    "Who created the periodic table of the chemical elements?",
    "Where was Wolfgang Amadeus Mozart born?",
    # world facts
    "What is the capital of Argentina?",
    "What is the capital of Hungary?",
    "What is the capital of Morocco?",
    "What is the chemical formula for water?",
    "How many bones are in the adult human body?",
    "What is the hardest natural substance?",
    "Which part of a cell is known as its powerhouse?",
    "What is the fastest land animal?",
    "How many sides does a hexagon have?",
    "In what year was the Magna Carta sealed?",
    "In what year did the Battle of Hastings take place?",
    "Which river flows through Baghdad?",
    "Which chemical element has the atomic number 1?",
    "What is the largest organ of the human body?",
    "Whose tomb did Howard Carter discover in the Valley of the Kings in 1922?",
)

TUNING_ANCHORS: tuple[str, ...] = (
    # authors and their books
    "Which novel by L. Frank Baum follows a girl named Dorothy to a magical land?",
    "Who wrote 'The Wind in the Willows'?",
    "Who created the bear Winnie-the-Pooh?",
    "Which German poet wrote the tragedy 'Faust'?",
    "Who wrote 'The Magic Mountain'?",
    "Who is the author of 'Dead Souls'?",
    "Who wrote 'The Adventures of Pinocchio'?",
    "What is the name of the girl with superhuman strength created by Astrid Lindgren?",
    "Who wrote the children's novel 'Heidi'?",
    "Which French writer wrote the satire 'Candide'?",
    "Who wrote 'The Red and the Black'?",
    "Which Roman poet wrote 'The Aeneid'?",
    "Which ancient Greek playwright wrote 'Oedipus Rex'?",
    "Who wrote 'One Flew Over the Cuckoo's Nest'?",
    "Who is the author of 'The Good Earth'?",
    "Who wrote 'The Secret Garden'?",
    "Who wrote the historical novel 'Ivanhoe'?",
    "Who wrote 'The Tin Drum'?",
    "Who is the author of 'Atlas Shrugged'?",
    "Who wrote the novel 'Jurassic Park'?",
    # other famous people
    "Who painted 'The Scream'?",
    "Which French painter is famous for his series of 'Water Lilies'?",
    "Which composer wrote the opera 'La Traviata'?",
    "Who composed the 'Brandenburg Concertos'?",
    "Which American inventor is known for the phonograph and a practical light bulb?",
    "Which Polish astronomer proposed a model of the universe with the Sun at its centre?",
    "Which painter is famous for her self-portraits and was married to Diego Rivera?",
    "Who led the expedition whose ship 'Endurance' was crushed by ice in 1915?",
    "Who developed the first vaccine against smallpox?",
    "Who is often called the first computer programmer?",
    # world facts
    "What is the capital of Portugal?",
    "What is the capital of Switzerland?",
    "What is the capital of Ethiopia?",
    "How many legs does a spider have?",
    "What is the largest living bird?",
    "Which vitamin does the human body make when the skin is exposed to sunlight?",
    "How many degrees are there in a right angle?",
    "In what year did the American Civil War begin?",
    "How many strings does a standard violin have?",
    "Which dynasty built the Forbidden City?",
)
